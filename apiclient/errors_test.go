package apiclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStatusError(t *testing.T) {
	text := http.Header{"Content-Type": {"text/plain"}}
	jsonH := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		status  int
		header  http.Header
		body    string
		code    Code
		message string
	}{
		{401, nil, "", CodeUnauthorized, ""},
		{401, jsonH, `"Fresh authentication token required"`, CodeFreshAuth, "Fresh authentication token required"},
		{403, nil, "", CodeForbidden, ""},
		{404, nil, "", CodeNotFound, ""},
		{400, jsonH, `"Key expiry date should be a valid date"`, CodeInvalid, "Key expiry date should be a valid date"},
		{400, text, "Application id must be a number", CodeInvalid, "Application id must be a number"},
		{400, http.Header{"Content-Type": {"text/html"}}, "<!DOCTYPE html><pre>SyntaxError</pre>", CodeInvalid, ""},
		{400, jsonH, `{"error":{"text":"nested"}}`, CodeInvalid, "nested"},
		{400, jsonH, `{"message":"msg","error":"err"}`, CodeInvalid, "msg"},
		{400, jsonH, `{"error":"err"}`, CodeInvalid, "err"},
		{400, jsonH, `{"other":1}`, CodeInvalid, ""},
		{409, jsonH, `"Unique key constraint violated"`, CodeConflict, "Unique key constraint violated"},
		{429, jsonH, `"Too Many Requests"`, CodeRateLimited, "Too Many Requests"},
		{500, nil, "", CodeUpstream, ""},
		{502, text, "Bad Gateway", CodeUpstream, "Bad Gateway"},
		{500, jsonH, `"unterminated`, CodeUpstream, ""},
		{418, nil, "", CodeInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status, tt.body), func(t *testing.T) {
			e := statusError("op", tt.status, tt.header, []byte(tt.body))
			if e.Code != tt.code || e.Message != tt.message || e.Status != tt.status {
				t.Errorf("got %s/%q/%d, want %s/%q", e.Code, e.Message, e.Status, tt.code, tt.message)
			}
		})
	}
}

func TestErrorMessageIsClipped(t *testing.T) {
	e := statusError("op", 400, nil, []byte(strings.Repeat("é", 400)))
	if len(e.Message) > maxMessageLen+len("…") || !strings.HasSuffix(e.Message, "…") {
		t.Errorf("message of %d bytes not clipped", len(e.Message))
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"3abc", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(http.Header{"Retry-After": {tt.v}}, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestErrorStringAndCode(t *testing.T) {
	e := &Error{Op: "list keys", Code: CodeInvalid, Status: 400, Message: "bad"}
	if got, want := e.Error(), "balena list keys: invalid (400): bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("handler: %w", contextError("x", context.Canceled))
	if ErrorCode(wrapped) != CodeTimeout || !errors.Is(wrapped, context.Canceled) {
		t.Errorf("wrapped context error: code %q", ErrorCode(wrapped))
	}
	if ErrorCode(errors.New("plain")) != "" {
		t.Error("ErrorCode of a plain error should be empty")
	}
}

func TestRedact(t *testing.T) {
	msg := redact("Malformed url: '/v7/api_key?apikey=SECRET&x'", "SECRET")
	if strings.Contains(msg, "SECRET") {
		t.Errorf("token not redacted: %s", msg)
	}
}
