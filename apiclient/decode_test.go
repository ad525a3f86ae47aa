package apiclient

import (
	"encoding/json"
	"reflect"
	"strings"
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

// A list with owners decoded into seeded rows reads as it does without a
// seed, whether the seed is larger or smaller than the answer, and an
// answer without "d" is still refused.
func TestSeededRowsDecodeAsUnseeded(t *testing.T) {
	rows := []string{
		`{"id":1,"name":"a","created_at":"2026-01-02T03:04:05Z","expiry_date":"2027-01-01T00:00:00Z","is_of__actor":[{"id":2,"is_of__user":[{"id":1,"username":"admin"}],"is_of__application":[],"is_of__device":[]}]}`,
		`{"id":3,"name":null,"created_at":"2026-01-02T03:04:05Z","expiry_date":null,"is_of__actor":[{"id":9,"is_of__device":[{"id":6,"uuid":"ab","device_name":"gw","is_online":true,"last_connectivity_event":"2026-11-30T00:00:00Z"}]}]}`,
		`{"id":4,"name":"p","created_at":"2026-01-02T03:04:05Z","is_of__actor":[{"id":3,"is_of__application":[{"id":4,"slug":"acme/x"}]}]}`,
		`{"id":5,"name":"none","created_at":"2026-01-02T03:04:05Z","is_of__actor":[]}`,
		`{"id":6,"name":"two","created_at":"2026-01-02T03:04:05Z","is_of__actor":[{"id":7,"is_of__user":[{"id":8,"username":"x"},{"id":9,"username":"y"}]},{"id":10}]}`,
		`{"id":7,"name":"bare","created_at":"2026-01-02T03:04:05Z"}`,
	}
	for n := range len(rows) + 1 {
		body := []byte(`{"d":[` + strings.Join(rows[:n], ",") + `]}`)
		want, err := decodeRows[expandedKeyRow]("t", body, nil)
		if err != nil || len(want) != n {
			t.Fatalf("%d rows unseeded: %d, %v", n, len(want), err)
		}
		for _, seed := range []int{1, 3, len(rows), 50} {
			got, err := decodeRows("t", body, seedExpandedRows(seed))
			if err != nil || len(got) != n {
				t.Fatalf("%d rows, seed %d: %d, %v", n, seed, len(got), err)
			}
			for i := range got {
				if g, w := got[i].key(), want[i].key(); !reflect.DeepEqual(g, w) {
					t.Errorf("%d rows, seed %d, row %d:\n got %+v\nwant %+v", n, seed, i, g, w)
				}
			}
		}
	}
	for _, body := range []string{`{}`, `{"d":null}`, `{"error":"x"}`} {
		if _, err := decodeRows("t", []byte(body), seedExpandedRows(5)); err == nil {
			t.Errorf("%s: read as a collection", body)
		}
	}
}
