package audit

import (
	"context"
	"strings"
	"testing"
)

// plan is how SQLite reads q, one step a line.
func plan(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	rows, err := s.db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(steps, "; ")
}

func sqliteStore(t *testing.T) *Store {
	s, err := Open(context.Background(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A key's history is found through the key indexes, not by reading every
// event in time order (which SQLite prefers, to save a sort, and which
// took a quarter of a second over 100,000 events).
func TestAKeysHistoryDoesNotReadTheWholeTrail(t *testing.T) {
	s := sqliteStore(t)
	joined := plan(t, s, s.historyQuery(), 1, 1, 50)
	if strings.Contains(joined, "SCAN audit_event") || !strings.Contains(joined, "audit_event_key") {
		t.Errorf("plan: %s", joined)
	}
}

// A page of the events of many keys is found by walking a newest-first
// index that holds the keys and actors, so that no event is read but the
// page's 50 (reading them all and sorting them took half a second over
// 100,000 events, and a deep page more).
func TestAPageOfManyKeysWalksANewestFirstIndex(t *testing.T) {
	s := sqliteStore(t)
	for index, f := range map[string]Filter{
		"audit_event_newest":        {KeyIDs: []int64{1, 2, 3}, ActorID: 7},
		"audit_event_action_newest": {KeyIDs: []int64{1, 2, 3}, ActorID: 7, Action: "revoke"},
	} {
		q, args := s.pageQuery(f, true, 50, 0)
		if joined := plan(t, s, q, args...); !strings.Contains(joined, "SCAN audit_event USING COVERING INDEX "+index) &&
			!strings.Contains(joined, "SEARCH audit_event USING COVERING INDEX "+index) {
			t.Errorf("%+v: plan: %s", f, joined)
		}
	}
}
