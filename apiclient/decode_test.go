package apiclient

import (
	"encoding/json"
	"testing"
	"time"
)

func TestActorRefShapes(t *testing.T) {
	tests := []struct {
		in   string
		id   int64
		kind KeyKind
	}{
		{`{"__id":5}`, 5, ""},
		{`7`, 7, ""}, // v6
		{`null`, 0, ""},
		{`[]`, 0, ""},
		{`[{"id":2,"is_of__user":[{"id":1,"username":"admin"}],"is_of__application":[],"is_of__device":[]}]`, 2, KindUser},
		{`[{"id":3,"is_of__application":[{"id":4,"slug":"acme/x"}]}]`, 3, KindProvisioning},
		{`[{"id":9,"is_of__device":[{"id":6,"uuid":"ab","device_name":null}]}]`, 9, KindDevice},
	}
	for _, tt := range tests {
		var r actorRef
		if err := json.Unmarshal([]byte(tt.in), &r); err != nil || r.ID != tt.id {
			t.Errorf("%s: id %d, %v", tt.in, r.ID, err)
			continue
		}
		var kind KeyKind
		if r.Row != nil {
			kind, _ = r.Row.owner()
		}
		if kind != tt.kind {
			t.Errorf("%s: kind %q, want %q", tt.in, kind, tt.kind)
		}
	}
	var r actorRef
	if err := json.Unmarshal([]byte(`"x"`), &r); err == nil {
		t.Error("a string is no reference")
	}
}

func TestDecodeToken(t *testing.T) {
	tests := []struct {
		body, want string
		ok         bool
	}{
		{"eyJ.a.b\n", "eyJ.a.b", true},
		{`"a1B2c3"`, "a1B2c3", true},
		{`""`, "", false},
		{"", "", false},
		{"<html><body>oops</body></html>", "", false},
		{`"unterminated`, "", false},
	}
	for _, tt := range tests {
		got, err := decodeToken("op", []byte(tt.body))
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("decodeToken(%q) = %q, %v", tt.body, got, err)
		}
	}
}

func TestAPIKeyExpired(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Second)
	for _, tt := range []struct {
		expiry *time.Time
		want   bool
	}{{nil, false}, {&past, true}, {&now, true}, {&future, false}} {
		if got := (APIKey{ExpiryDate: tt.expiry}).Expired(now); got != tt.want {
			t.Errorf("expiry %v: Expired = %v", tt.expiry, got)
		}
	}
}
