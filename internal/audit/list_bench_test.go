package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/pgtest"
)

// benchTrail is the audit trail of the bench's section 9: n events, one a
// second, 8 in 10 about the keys a user can see (half of those by the
// user), the rest about keys they cannot see, by others.
type benchTrail struct {
	n       int
	visible []int64 // ascending, as apiclient's KeyIDs returns them
	me      int64
	start   time.Time // the first event's
}

func newBenchTrail(n, visible int) benchTrail {
	t := benchTrail{n: n, me: 4242, start: time.Now().Add(-time.Duration(n) * time.Second).UTC().Truncate(time.Second)}
	for i := range visible {
		t.visible = append(t.visible, visibleBase+visibleStep*int64(i))
	}
	return t
}

// The ids of the keys the user can see are not contiguous, as a real
// account's are not.
const visibleBase, visibleStep = 100_000, 3

// fill writes the trail in one statement that makes its rows (Record, one
// event at a time, takes 8–16 s for 100,000 events: too long for make
// bench's one-iteration run). The rows are those the bench records.
func (bt benchTrail) fill(ctx context.Context, s *Store) error {
	var action strings.Builder
	action.WriteString("CASE i % " + strconv.Itoa(len(apikeys.Actions)))
	for n, a := range apikeys.Actions {
		fmt.Fprintf(&action, " WHEN %d THEN '%s'", n, a.Name)
	}
	action.WriteString(" END")
	seen := "i % 10 < 8"
	mine := seen + " AND i % 2 = 0"
	key := fmt.Sprintf("CASE WHEN %s THEN %d + %d * (i %% %d) ELSE 1000000000 + i END", seen, visibleBase, visibleStep, len(bt.visible))
	someone := "'someone-' || (i % 50)"
	at := fmt.Sprintf("%d + i * 1000000", bt.start.UnixMicro())
	if s.pg {
		at = fmt.Sprintf("timestamptz '%s' + i * interval '1 second'", bt.start.Format(time.RFC3339))
	}
	values := []string{
		at,
		action.String(),
		fmt.Sprintf("CASE WHEN %s THEN %d ELSE 9000000 + i %% 50 END", mine, bt.me),
		fmt.Sprintf("CASE WHEN %s THEN 'me' ELSE %s END", mine, someone),
		key,
		fmt.Sprintf("CASE WHEN %s THEN 'device' ELSE 'user' END", seen),
		fmt.Sprintf("CASE WHEN %s THEN 'device-' || (i %% 500) WHEN %s THEN 'me' ELSE %s END", seen, mine, someone),
		"''",
		fmt.Sprintf("CASE WHEN %s THEN 'key ' || (%s) ELSE 'hidden key ' || i END", seen, key),
		`'[{"field":"name","old":"old name","new":"new name"}]'`,
		"0", "false", "'ok'", "''", "false",
		"'bench-' || i",
	}
	seq := fmt.Sprintf("WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < %d) ", bt.n)
	if s.pg {
		seq = fmt.Sprintf("WITH seq(i) AS (SELECT generate_series(0, %d)) ", bt.n-1)
	}
	q := "INSERT INTO audit_event (" + strings.TrimPrefix(columns, "id, ") + ") " + seq + "SELECT " + strings.Join(values, ", ") + " FROM seq"
	if _, err := s.db.ExecContext(ctx, q); err != nil {
		return err
	}
	if s.pg {
		// As autovacuum does soon after: statistics, and the visibility
		// map that lets an index be read without the table.
		_, err := s.db.ExecContext(ctx, "VACUUM ANALYZE audit_event")
		return err
	}
	return nil
}

// benchPair is one database kind with the trail twice: at schema version 1
// read as List read it then (before), and at the newest (after).
type benchPair struct {
	name          string
	before, after *Store
}

func benchPairs(b *testing.B, bt benchTrail) []benchPair {
	b.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(o Options) *Store {
		o.Log = quiet
		s, err := Open(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		if err := bt.fill(ctx, s); err != nil {
			b.Fatal(err)
		}
		return s
	}
	pairs := []benchPair{{"SQLite", open(Options{Dir: b.TempDir(), version: 1}), open(Options{Dir: b.TempDir()})}}
	pg, err := pgtest.Run()
	if err != nil {
		b.Log("PostgreSQL not measured: ", err)
		return pairs
	}
	b.Cleanup(pg.Close)
	url := func() string {
		u, err := pg.NewDatabase()
		if err != nil {
			b.Fatal(err)
		}
		return u
	}
	return append(pairs, benchPair{"PostgreSQL", open(Options{URL: url(), version: 1}), open(Options{URL: url()})})
}

// BenchmarkAuditPage is the audit page's read over 100,000 events for a
// user who is not an audit administrator (section 9 of
// docs/performance.md): List before and after, interleaved, each first in
// turn; it reports each one's mean and after ÷ before, and fails if they
// read different events.
func BenchmarkAuditPage(b *testing.B) {
	bt := newBenchTrail(100_000, 20_600)
	pairs := benchPairs(b, bt)
	ctx := context.Background()
	views := []struct {
		name string
		f    Filter
	}{
		{"first_page", Filter{}},
		{"action=revoke", Filter{Action: "revoke"}},
		{"one_key", Filter{KeyID: bt.visible[len(bt.visible)/2]}},
		{"page_1000", Filter{Offset: 999 * 50}},
		// A user who sees ten keys and has not acted: 40 events.
		{"ten_keys", Filter{KeyIDs: bt.visible[:10], ActorID: 1}},
	}
	for _, p := range pairs {
		for _, v := range views {
			b.Run(p.name+"/"+v.name, func(b *testing.B) {
				f := v.f
				if f.KeyIDs == nil {
					f.KeyIDs, f.ActorID = bt.visible, bt.me
				}
				f.Limit = 50
				var took [2]time.Duration
				for i := range b.N {
					var got [2][]Entry
					var total [2]int
					for j := range 2 {
						w := (i + j) % 2
						list := p.after.List
						if w == 0 {
							list = p.before.listBefore
						}
						start := time.Now()
						entries, n, err := list(ctx, f)
						took[w] += time.Since(start)
						if err != nil {
							b.Fatal(err)
						}
						got[w], total[w] = entries, n
					}
					if total[0] != total[1] || !sameEvents(got[0], got[1]) {
						b.Fatalf("before: %d of %d events, after: %d of %d, or not the same ones", len(got[0]), total[0], len(got[1]), total[1])
					}
				}
				b.ReportMetric(float64(took[0].Microseconds())/1000/float64(b.N), "ms-before/op")
				b.ReportMetric(float64(took[1].Microseconds())/1000/float64(b.N), "ms-after/op")
				b.ReportMetric(float64(took[1])/float64(took[0]), "after/before")
			})
		}
	}
}

// sameEvents compares two pages by what they show; their ids differ, as
// each database numbered its own copy of the trail.
func sameEvents(a, b []Entry) bool {
	return slices.EqualFunc(a, b, func(x, y Entry) bool {
		return x.At.Equal(y.At) && x.RequestID == y.RequestID && x.KeyID == y.KeyID && x.ActorID == y.ActorID
	})
}

// listBefore is List as it was before the page read its ids first and
// SQLite walked the newest-first index (issue 15's first cut), kept as the
// bench's baseline. It runs on a trail at schema version 1.
func (s *Store) listBefore(ctx context.Context, f Filter) ([]Entry, int, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where, args = append(where, cond), append(args, a...) }
	switch {
	case f.All:
	case f.KeyID != 0 && slices.Contains(f.KeyIDs, f.KeyID):
		// One key, which this user can see: its events are theirs to see,
		// and the planner need not weigh a set of thousands of ids.
	case f.KeyID != 0:
		add("actor_id = ?", f.ActorID)
	default:
		// A rotation's event is the old key's (key_id), which names the
		// new one: it is seen by whoever sees the old key.
		keys, arg := s.inIDsBefore("key_id", f.KeyIDs)
		add("("+keys+" OR actor_id = ?)", arg, f.ActorID)
	}
	if f.Actor != "" {
		if id, err := strconv.ParseInt(f.Actor, 10, 64); err == nil {
			add("(actor_id = ? OR lower(username) = lower(?))", id, f.Actor)
		} else {
			add("lower(username) = lower(?)", f.Actor)
		}
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.KeyID != 0 {
		add("("+oneKey+")", f.KeyID, f.KeyID)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.Fleet != "" {
		add("lower(fleet) = lower(?)", f.Fleet)
	}
	if f.Outcome != "" {
		add("outcome = ?", f.Outcome)
	}
	if !f.After.IsZero() {
		add("at >= ?", s.time(f.After))
	}
	if !f.Before.IsZero() {
		add("at < ?", s.time(f.Before))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	// The count and the page are read at once, on two connections: with
	// tens of thousands of events each is a scan, and a scan is one core.
	var total int
	var entries []Entry
	g, gctx := errgroup.WithContext(ctx)
	if !f.NoCount {
		g.Go(func() error {
			if err := s.db.QueryRowContext(gctx, s.bind("SELECT count(*) FROM audit_event"+cond), args...).Scan(&total); err != nil {
				return fmt.Errorf("audit: count events: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		var err error
		entries, err = s.query(gctx, "SELECT "+columns+" FROM audit_event"+cond+" ORDER BY "+s.newestFirst(f.KeyID != 0)+" LIMIT ? OFFSET ?",
			append(slices.Clip(args), limit, max(f.Offset, 0))...)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	return entries, total, nil
}

// inIDsBefore is inIDs as listBefore used it.
func (s *Store) inIDsBefore(col string, ids []int64) (string, any) {
	if ids == nil {
		ids = []int64{}
	}
	if s.pg {
		return col + " IN (SELECT unnest(?::bigint[]))", ids
	}
	b, _ := json.Marshal(ids)
	return col + " IN (SELECT value FROM json_each(?))", string(b)
}
