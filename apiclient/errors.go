package apiclient

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// Code classifies an Error; the portal maps each code to a status and a
// message in one place.
type Code string

const (
	CodeUnauthorized Code = "unauthorized" // no, expired or revoked credentials (401)
	CodeFreshAuth    Code = "fresh_auth"   // "Fresh authentication token required" (401)
	CodeForbidden    Code = "forbidden"    // 403
	CodeNotFound     Code = "not_found"    // GET by id gave {"d": []}, or 404
	CodeInvalid      Code = "invalid"      // 400, Message holds balena's text when it sent one
	CodeConflict     Code = "conflict"     // 409
	CodeRateLimited  Code = "rate_limited" // 429, RetryAfter set
	CodeUpstream     Code = "upstream"     // 5xx, garbage bodies, reset connections
	CodeUnreachable  Code = "unreachable"  // no connection could be made (refused, unknown host, no route): nothing was sent
	CodeBadToken     Code = "bad_token"    // the token holds bytes no HTTP header can carry: nothing was sent
	CodeTimeout      Code = "timeout"      // the call's deadline passed (or its context was cancelled)
	CodeTwoFactor    Code = "two_factor"   // a wrong TOTP code
)

// Error is every failure apiclient returns.
type Error struct {
	Code       Code
	Status     int           // HTTP status from balena; 0 when none came
	Message    string        // balena's message, if it sent one
	RetryAfter time.Duration // for CodeRateLimited
	Op         string        // e.g. "list keys"; never contains a token
	Err        error         // the underlying cause, if any
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("balena %s: %s", e.Op, e.Code)
	if e.Status != 0 {
		msg += fmt.Sprintf(" (%d)", e.Status)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil && (e.Code == CodeUpstream || e.Code == CodeTimeout || e.Code == CodeUnreachable) {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns err's Code, or "" when err is not an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// freshAuthMessage is the only way balena tells a stale session apart from
// a bad one: both are 401.
const freshAuthMessage = "Fresh authentication token required"

// maxMessageLen keeps a hostile or broken upstream from filling logs.
const maxMessageLen = 300

// statusError turns a non-2xx answer into an *Error.
func statusError(op string, status int, header http.Header, body []byte) *Error {
	e := &Error{Op: op, Status: status, Message: errorMessage(header, body)}
	switch {
	case status == http.StatusUnauthorized && e.Message == freshAuthMessage:
		e.Code = CodeFreshAuth
	case status == http.StatusUnauthorized:
		e.Code = CodeUnauthorized
	case status == http.StatusForbidden:
		e.Code = CodeForbidden
	case status == http.StatusNotFound:
		e.Code = CodeNotFound
	case status == http.StatusConflict:
		e.Code = CodeConflict
	case status == http.StatusTooManyRequests:
		e.Code = CodeRateLimited
		e.RetryAfter = retryAfter(header, time.Now())
	case status >= 400 && status < 500:
		e.Code = CodeInvalid
	default:
		e.Code = CodeUpstream
	}
	return e
}

// errorMessage extracts balena's message the way balena-request does:
// body.error.text, else body.message or body.error for an object, else the
// body itself. pine mostly answers with a JSON-encoded string or nothing.
func errorMessage(header http.Header, body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	var msg string
	switch body[0] {
	case '"':
		if json.Unmarshal(body, &msg) != nil {
			return ""
		}
	case '{':
		var obj struct {
			Message json.RawMessage `json:"message"`
			Error   json.RawMessage `json:"error"`
		}
		if json.Unmarshal(body, &obj) != nil {
			return ""
		}
		var nested struct {
			Text string `json:"text"`
		}
		switch {
		case json.Unmarshal(obj.Error, &nested) == nil && nested.Text != "":
			msg = nested.Text
		case json.Unmarshal(obj.Message, &msg) == nil && msg != "":
		default:
			_ = json.Unmarshal(obj.Error, &msg)
		}
	default:
		// Plain text (e.g. "Application id must be a number") is a message;
		// an HTML error page is not.
		mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
		if mt == "text/html" || !utf8.Valid(body) || body[0] == '<' {
			return ""
		}
		msg = string(body)
	}
	return clip(strings.TrimSpace(msg), maxMessageLen)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// retryAfter reads Retry-After as seconds or an HTTP date; 0 when absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// contextError classifies a failure caused by the call's context.
// The code is CodeTimeout for a cancelled context too: either way the
// answer did not come in time for whoever asked; Err tells them apart.
func contextError(op string, err error) *Error {
	return &Error{Op: op, Code: CodeTimeout, Err: err}
}

func upstreamError(op, msg string, err error) *Error {
	return &Error{Op: op, Code: CodeUpstream, Message: msg, Err: err}
}

func invalidError(op, msg string) *Error {
	return &Error{Op: op, Code: CodeInvalid, Message: msg}
}
