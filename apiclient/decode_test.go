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
		// A reference is read by actorRef, an expanded one (an array) by
		// the row of a list with owners.
		var id int64
		var kind KeyKind
		if tt.in[0] == '[' {
			var row expandedKeyRow
			if err := json.Unmarshal([]byte(`{"is_of__actor":`+tt.in+`}`), &row); err != nil {
				t.Errorf("%s: %v", tt.in, err)
				continue
			}
			k := row.key()
			id, kind = k.Owner.ActorID, k.Kind
		} else {
			var r actorRef
			if err := json.Unmarshal([]byte(tt.in), &r); err != nil {
				t.Errorf("%s: %v", tt.in, err)
				continue
			}
			id = r.ID
		}
		if id != tt.id || kind != tt.kind {
			t.Errorf("%s: id %d kind %q, want %d %q", tt.in, id, kind, tt.id, tt.kind)
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
