package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/audit"
	"github.com/keyportal/keyportal/internal/pgtest"
)

// clock is a test's time: each reading is a second after the last, so
// events have distinct, known times.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

var start = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// opener opens a fresh store on one database kind.
type opener func(t *testing.T, o audit.Options) *audit.Store

func sqliteStores(t *testing.T) opener {
	return func(t *testing.T, o audit.Options) *audit.Store {
		o.Dir = t.TempDir()
		return open(t, o)
	}
}

func postgresStores(t *testing.T) opener {
	srv := pgtest.Start(t)
	return func(t *testing.T, o audit.Options) *audit.Store {
		o.URL = srv.Database(t)
		return open(t, o)
	}
}

func open(t *testing.T, o audit.Options) *audit.Store {
	t.Helper()
	s, err := audit.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStoreSQLite(t *testing.T)   { suite(t, sqliteStores(t)) }
func TestStorePostgres(t *testing.T) { suite(t, postgresStores(t)) }

func ptr(s string) *string { return &s }

func fleetKey(id int64, name, fleet string) apiclient.APIKey {
	return apiclient.APIKey{ID: id, Name: name, Kind: apiclient.KindProvisioning, Owner: apiclient.Owner{ActorID: 900 + id, FleetID: 7, FleetSlug: fleet}}
}

func userKey(id int64, name, owner string) apiclient.APIKey {
	return apiclient.APIKey{ID: id, Name: name, Kind: apiclient.KindUser, Owner: apiclient.Owner{ActorID: 1, Username: owner}}
}

// suite is what the portal relies on from either database.
func suite(t *testing.T, openStore opener) {
	t.Run("an event reads back as it was recorded, and never holds more than the event", func(t *testing.T) {
		c := &clock{t: start}
		s := openStore(t, audit.Options{Now: c.now})
		ctx := context.Background()
		s.Record(ctx, apikeys.Event{Action: "update", ActorID: 1, Username: "alice", Key: fleetKey(10, "CI <b>key</b>", "acme/fleet"),
			Changes: []apikeys.Change{{Field: "name", Old: ptr("CI"), New: ptr("CI <b>key</b>")}, {Field: "description", New: ptr("")}},
			Outcome: apikeys.Done, Ref: "req-1"})
		s.Record(ctx, apikeys.Event{Action: "revoke", ActorID: 1, Username: "alice", Key: userKey(11, "", "alice"), Bulk: true,
			Outcome: apikeys.Unknown, Err: errors.New("connection reset"), Verified: true, Ref: "req-2"})
		got, total, err := s.List(ctx, audit.Filter{All: true})
		if err != nil {
			t.Fatal(err)
		}
		if total != 2 || len(got) != 2 {
			t.Fatalf("total %d, %d entries; want 2", total, len(got))
		}
		revoke, update := got[0], got[1]
		if revoke.Action != "revoke" || !revoke.Bulk || !revoke.Verified || revoke.Outcome != "unknown" || revoke.Reason == "" ||
			revoke.Kind != "user" || revoke.Owner != "alice" || revoke.KeyID != 11 || revoke.RequestID != "req-2" {
			t.Errorf("revoke read back as %+v", revoke)
		}
		if !revoke.At.Equal(start.Add(2*time.Second)) || revoke.At.Location() != time.UTC {
			t.Errorf("revoke at %v, want %v in UTC", revoke.At, start.Add(2*time.Second))
		}
		if update.KeyName != "CI <b>key</b>" || update.Fleet != "acme/fleet" || update.Owner != "acme/fleet" || update.Kind != "provisioning" ||
			update.Outcome != "ok" || update.Reason != "" || update.Username != "alice" || update.ActorID != 1 {
			t.Errorf("update read back as %+v", update)
		}
		if len(update.Changes) != 2 || *update.Changes[0].Old != "CI" || *update.Changes[0].New != "CI <b>key</b>" ||
			update.Changes[1].Old != nil || *update.Changes[1].New != "" {
			t.Errorf("changes read back as %+v", update.Changes)
		}
	})

	t.Run("filters, paging and who may see", func(t *testing.T) {
		c := &clock{t: start}
		s := openStore(t, audit.Options{Now: c.now})
		ctx := context.Background()
		// 30 events: alice (1) acts on keys 100..109 of acme, bob (2) on user keys 200..219.
		for i := range 10 {
			s.Record(ctx, apikeys.Event{Action: "revoke", ActorID: 1, Username: "alice", Key: fleetKey(100+int64(i), "k", "acme"), Outcome: apikeys.Done})
		}
		for i := range 20 {
			o := apikeys.Done
			if i%2 == 1 {
				o = apikeys.NotDone
			}
			s.Record(ctx, apikeys.Event{Action: "update", ActorID: 2, Username: "Bob", Key: userKey(200+int64(i), "u", "bob"), Outcome: o, Err: errors.New("no")})
		}
		count := func(f audit.Filter) int {
			t.Helper()
			_, n, err := s.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		for name, c := range map[string]struct {
			f    audit.Filter
			want int
		}{
			"everything":                   {audit.Filter{All: true}, 30},
			"actor by name, any case":      {audit.Filter{All: true, Actor: "bob"}, 20},
			"actor by id":                  {audit.Filter{All: true, Actor: "1"}, 10},
			"action":                       {audit.Filter{All: true, Action: "revoke"}, 10},
			"key":                          {audit.Filter{All: true, KeyID: 205}, 1},
			"kind":                         {audit.Filter{All: true, Kind: "provisioning"}, 10},
			"fleet":                        {audit.Filter{All: true, Fleet: "ACME"}, 10},
			"outcome":                      {audit.Filter{All: true, Outcome: "failed"}, 10},
			"after (inclusive)":            {audit.Filter{All: true, After: start.Add(21 * time.Second)}, 10},
			"before (exclusive)":           {audit.Filter{All: true, Before: start.Add(11 * time.Second)}, 10},
			"between":                      {audit.Filter{All: true, After: start.Add(5 * time.Second), Before: start.Add(7 * time.Second)}, 2},
			"combined":                     {audit.Filter{All: true, Actor: "bob", Outcome: "ok"}, 10},
			"nobody: nothing":              {audit.Filter{}, 0},
			"own actions":                  {audit.Filter{ActorID: 1}, 10},
			"visible keys":                 {audit.Filter{ActorID: 3, KeyIDs: []int64{100, 201, 999}}, 2},
			"visible keys and own actions": {audit.Filter{ActorID: 1, KeyIDs: []int64{201}}, 11},
			"visible keys, then filtered":  {audit.Filter{ActorID: 1, KeyIDs: []int64{201}, Action: "update"}, 1},
			"a visible key":                {audit.Filter{ActorID: 3, KeyIDs: []int64{100, 201}, KeyID: 201}, 1},
			"a hidden key":                 {audit.Filter{ActorID: 3, KeyIDs: []int64{100}, KeyID: 201}, 0},
			"a hidden key, own action":     {audit.Filter{ActorID: 2, KeyIDs: []int64{100}, KeyID: 201}, 1},
		} {
			if got := count(c.f); got != c.want {
				t.Errorf("%s: %d events, want %d", name, got, c.want)
			}
		}
		page, total, err := s.List(ctx, audit.Filter{All: true, Limit: 12, Offset: 24})
		if err != nil {
			t.Fatal(err)
		}
		if total != 30 || len(page) != 6 {
			t.Fatalf("last page: total %d, %d entries; want 30 and 6", total, len(page))
		}
		if page[0].KeyID != 105 || page[5].KeyID != 100 {
			t.Errorf("last page runs from key %d to %d; want the oldest six, newest first (105 to 100)", page[0].KeyID, page[5].KeyID)
		}
		first, _, _ := s.List(ctx, audit.Filter{All: true, Limit: 1})
		if first[0].KeyID != 219 {
			t.Errorf("newest event is of key %d, want 219", first[0].KeyID)
		}
	})

	t.Run("a user sees exactly the events of the keys they can see and their own, on every page", func(t *testing.T) {
		// Three events a second: the order of events of the same time is
		// theirs too.
		n := 0
		s := openStore(t, audit.Options{Now: func() time.Time { n++; return start.Add(time.Duration(n/3) * time.Second) }})
		ctx := context.Background()
		// 400 events about keys 1..80, by actors 1..5, each action in turn;
		// a rotation of key k names k+100 as its replacement.
		type event struct {
			ref        string
			key, actor int64
			action     string
		}
		var all []event
		for i := range 400 {
			e := event{ref: "ev-" + strconv.Itoa(i), key: int64(1 + (i*7)%80), actor: int64(1 + i%5), action: apikeys.Actions[i%len(apikeys.Actions)].Name}
			ev := apikeys.Event{Action: e.action, ActorID: e.actor, Username: "user-" + strconv.FormatInt(e.actor, 10),
				Key: userKey(e.key, "k", "o"), Outcome: apikeys.Done, Ref: e.ref}
			if e.action == "rotate_create" {
				ev.NewKey = e.key + 100
			}
			s.Record(ctx, ev)
			all = append(all, e)
		}
		slices.Reverse(all) // newest first
		// The reader sees many keys (most events are theirs to see), a few
		// (few are), or none but those of their own actions; the store
		// reads each in its own way, and the page must not tell.
		keysUpTo := func(n int64) []int64 {
			var ids []int64
			for k := int64(1); k <= n; k++ {
				ids = append(ids, k)
			}
			return ids
		}
		var thousands []int64 // keys the reader sees that have no event
		for k := range int64(2000) {
			thousands = append(thousands, 10_000+k)
		}
		for name, sc := range map[string]struct {
			keys  []int64
			actor int64
		}{
			"many keys":          {keysUpTo(64), 3},
			"thousands of keys":  {append(keysUpTo(64), thousands...), 3},
			"a few keys":         {[]int64{5, 77, 999}, 2},
			"no keys, own":       {nil, 4},
			"no keys, no events": {[]int64{999}, 9},
		} {
			for _, fl := range []audit.Filter{{}, {Action: "revoke"}, {Actor: "user-1"}} {
				var want []string
				for _, e := range all {
					if (slices.Contains(sc.keys, e.key) || e.actor == sc.actor) &&
						(fl.Action == "" || e.action == fl.Action) && (fl.Actor == "" || e.actor == 1) {
						want = append(want, e.ref)
					}
				}
				f := fl
				f.KeyIDs, f.ActorID, f.Limit = sc.keys, sc.actor, 16
				// Page by page with the total, without it (as an export
				// reads on), and on from the last event read.
				for _, way := range []string{"offset", "offset, no count", "on from the last"} {
					var got []string
					f.Offset, f.NoCount, f.OlderThan = 0, way != "offset", nil
					for range len(want)/f.Limit + 2 {
						page, total, err := s.List(ctx, f)
						if err != nil {
							t.Fatal(err)
						}
						if !f.NoCount && total != len(want) {
							t.Errorf("%s, filter %+v: total %d, want %d", name, fl, total, len(want))
						}
						for _, e := range page {
							got = append(got, e.RequestID)
						}
						if way == "on from the last" && len(page) > 0 {
							f.OlderThan = page[len(page)-1].Position()
						} else if way != "on from the last" {
							f.Offset += f.Limit
						}
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s, filter %+v, %s: sees\n%v\nwant\n%v", name, fl, way, got, want)
					}
				}
			}
			// One key: a visible key's events, or only the reader's own
			// actions on a key they cannot see.
			for _, key := range []int64{5, 77} {
				var want []string
				for _, e := range all {
					if e.key == key && (slices.Contains(sc.keys, key) || e.actor == sc.actor) {
						want = append(want, e.ref)
					}
				}
				page, total, err := s.List(ctx, audit.Filter{KeyIDs: sc.keys, ActorID: sc.actor, KeyID: key, Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range page {
					got = append(got, e.RequestID)
				}
				if total != len(want) || !slices.Equal(got, want) {
					t.Errorf("%s, key %d: sees %d: %v, want %v", name, key, total, got, want)
				}
			}
		}
	})

	t.Run("history and rotation lineage of a key", func(t *testing.T) {
		c := &clock{t: start}
		s := openStore(t, audit.Options{Now: c.now})
		ctx := context.Background()
		s.Record(ctx, apikeys.Event{Action: "create", ActorID: 1, Username: "alice", Key: userKey(1, "ci", "alice"), Outcome: apikeys.Done})
		s.Record(ctx, apikeys.Event{Action: "rotate_create", ActorID: 1, Username: "alice", Key: userKey(1, "ci", "alice"), NewKey: 2, Outcome: apikeys.Done})
		s.Record(ctx, apikeys.Event{Action: "rotate_expire_old", ActorID: 1, Username: "alice", Key: userKey(1, "ci", "alice"), Outcome: apikeys.Done})
		s.Record(ctx, apikeys.Event{Action: "rotate_create", ActorID: 1, Username: "alice", Key: userKey(2, "ci", "alice"), NewKey: 3, Outcome: apikeys.Done})
		s.Record(ctx, apikeys.Event{Action: "revoke", ActorID: 1, Username: "alice", Key: userKey(9, "other", "alice"), Outcome: apikeys.Done})
		h, err := s.History(ctx, 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range h {
			actions = append(actions, e.Action)
		}
		if strings.Join(actions, " ") != "rotate_expire_old rotate_create create" {
			t.Errorf("key 1's history: %v", actions)
		}
		h, _ = s.History(ctx, 2, 1)
		if len(h) != 1 || h[0].Action != "rotate_create" || h[0].KeyID != 2 {
			t.Errorf("key 2's newest event: %+v", h)
		}
		links, err := s.Lineage(ctx, []int64{1, 2, 3, 9})
		if err != nil {
			t.Fatal(err)
		}
		want := map[int64]audit.Link{1: {ReplacedBy: 2}, 2: {Replaces: 1, ReplacedBy: 3}, 3: {Replaces: 2}}
		if len(links) != len(want) {
			t.Errorf("lineage %v, want %v", links, want)
		}
		for id, l := range want {
			if links[id] != l {
				t.Errorf("key %d: lineage %+v, want %+v", id, links[id], l)
			}
		}
	})

	t.Run("prune deletes only older events", func(t *testing.T) {
		c := &clock{t: start}
		s := openStore(t, audit.Options{Now: c.now})
		ctx := context.Background()
		for i := range 5 {
			s.Record(ctx, apikeys.Event{Action: "revoke", Key: userKey(int64(i), "k", "a"), Outcome: apikeys.Done})
		}
		n, err := s.Prune(ctx, start.Add(3*time.Second))
		if err != nil || n != 2 {
			t.Fatalf("pruned %d (%v), want 2", n, err)
		}
		_, total, _ := s.List(ctx, audit.Filter{All: true})
		if total != 3 {
			t.Errorf("%d events left, want 3", total)
		}
	})

	t.Run("migrations apply once: reopening keeps the events", func(t *testing.T) {
		c := &clock{t: start}
		var o audit.Options
		o.Now = c.now
		s := openStore(t, o)
		s.Record(context.Background(), apikeys.Event{Action: "revoke", Outcome: apikeys.Done})
		if err := s.Ping(context.Background()); err != nil {
			t.Fatalf("ping: %v", err)
		}
		again := reopen(t, s)
		_, total, err := again.List(context.Background(), audit.Filter{All: true})
		if err != nil || total != 1 {
			t.Errorf("reopened: %d events (%v), want 1", total, err)
		}
	})
}

// reopen opens a second store on s's database, as a restart or another
// replica does.
func reopen(t *testing.T, s *audit.Store) *audit.Store {
	t.Helper()
	return open(t, audit.OptionsOf(s))
}

func TestTwoReplicasOnOnePostgreSQLSeeEachOthersEvents(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.Database(t)
	a, b := open(t, audit.Options{URL: url}), open(t, audit.Options{URL: url})
	a.Record(context.Background(), apikeys.Event{Action: "revoke", Username: "from-a", Outcome: apikeys.Done})
	b.Record(context.Background(), apikeys.Event{Action: "create", Username: "from-b", Outcome: apikeys.Done})
	for name, s := range map[string]*audit.Store{"a": a, "b": b} {
		got, total, err := s.List(context.Background(), audit.Filter{All: true})
		if err != nil || total != 2 {
			t.Fatalf("replica %s sees %d events (%v), want 2", name, total, err)
		}
		seen := map[string]bool{got[0].Username: true, got[1].Username: true}
		if !seen["from-a"] || !seen["from-b"] {
			t.Errorf("replica %s sees %v", name, seen)
		}
	}
}

func TestADatabaseThatIsDownCostsAWarningNotTheChange(t *testing.T) {
	srv := pgtest.Start(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	s := open(t, audit.Options{URL: srv.Database(t), Log: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))})
	ctx := context.Background()
	srv.Stop()
	s.Record(ctx, apikeys.Event{Action: "revoke", ActorID: 1, Username: "alice", Key: userKey(42, "ci", "alice"), Outcome: apikeys.Done, Ref: "req-down"})
	mu.Lock()
	line := logs.String()
	mu.Unlock()
	for _, want := range []string{"level=WARN", "action=revoke", "key=42", "request_id=req-down", "username=alice"} {
		if !strings.Contains(line, want) {
			t.Errorf("log lacks %q:\n%s", want, line)
		}
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("ping succeeded with the database down")
	}
	srv.Restart(t)
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping after the database came back: %v", err)
	}
	s.Record(ctx, apikeys.Event{Action: "create", Outcome: apikeys.Done})
	if _, total, err := s.List(ctx, audit.Filter{All: true}); err != nil || total != 1 {
		t.Errorf("after the database came back: %d events (%v), want the new one", total, err)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestTheSQLiteFileIsThePortalsAlone(t *testing.T) {
	dir := t.TempDir()
	open(t, audit.Options{Dir: dir})
	st, err := os.Stat(filepath.Join(dir, audit.FileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("audit.db: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
}

// A PostgreSQL that is down when the portal starts is waited for, not a
// reason to refuse to start: the store opens unavailable, events go to the
// log, the state is logged once however often it is tried, and once the
// server is back the store reaches it by itself, prunes what the retention
// no longer keeps, and stores events again.
func TestAPostgreSQLDownAtStartIsReachedOnceItIsBack(t *testing.T) {
	srv := pgtest.Start(t)
	url := srv.Database(t)
	earlier := open(t, audit.Options{URL: url, Now: func() time.Time { return time.Now().Add(-60 * 24 * time.Hour) }})
	earlier.Record(context.Background(), apikeys.Event{Action: "create", Username: "long ago", Outcome: apikeys.Done})
	earlier.Close()
	srv.Stop()
	var logs bytes.Buffer
	var mu sync.Mutex
	logged := func() string {
		mu.Lock()
		defer mu.Unlock()
		return logs.String()
	}
	s := open(t, audit.Options{URL: url, Log: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))})
	ctx := context.Background()
	if s.IsReady() {
		t.Fatal("ready with the database down")
	}
	s.PruneEvery(30*24*time.Hour, 24*time.Hour)
	for range 3 {
		if err := s.Ping(ctx); !errors.Is(err, audit.ErrUnavailable) {
			t.Fatalf("ping with the database down: %v", err)
		}
	}
	if n := strings.Count(logged(), "audit database unavailable"); n != 1 {
		t.Errorf("the database being down is logged %d times, want once:\n%s", n, logged())
	}
	s.Record(ctx, apikeys.Event{Action: "revoke", ActorID: 1, Username: "alice", Key: userKey(42, "ci", "alice"), Outcome: apikeys.Done, Ref: "req-early"})
	if l := logged(); !strings.Contains(l, "audit event not stored in the database") || !strings.Contains(l, "request_id=req-early") {
		t.Errorf("the event is not in the log:\n%s", l)
	}
	if _, _, err := s.List(ctx, audit.Filter{All: true}); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("list with the database down: %v", err)
	}
	if _, err := s.History(ctx, 42, 0); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("history with the database down: %v", err)
	}

	srv.Restart(t)
	select {
	case <-s.Ready():
	case <-time.After(2 * time.Minute): // a bound, not a wait: retries are at most half a minute apart
		t.Fatalf("the store did not reach the database once it was back:\n%s", logged())
	}
	s.Record(ctx, apikeys.Event{Action: "create", Username: "bob", Outcome: apikeys.Done})
	got, total, err := s.List(ctx, audit.Filter{All: true})
	if err != nil || total != 1 || got[0].Username != "bob" {
		t.Errorf("once the database is back: %d events (%v), want the new one (the old one pruned)", total, err)
	}
	if !strings.Contains(logged(), "audit database reachable") {
		t.Errorf("the recovery is not in the log:\n%s", logged())
	}
}

// What a restart cannot mend still stops the start: a URL PostgreSQL
// cannot read (said without the URL, which holds a password), another
// database's URL, an SQLite file that cannot be created.
func TestOpenRefusesWhatARestartCannotMend(t *testing.T) {
	for _, url := range []string{"postgres://keyportal:s3cret@db:notaport/keyportal", "postgres://keyportal:s3cret@db/keyportal?sslmode=sometimes", "mysql://keyportal:s3cret@db/keyportal"} {
		if _, err := audit.Open(context.Background(), audit.Options{URL: url}); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: %v", url, err)
		}
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, audit.FileName), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Open(context.Background(), audit.Options{Dir: dir}); err == nil {
		t.Error("opened an SQLite file that is a directory")
	}
}

// A database that answers but no longer holds the trail (a failover to an
// empty server, a table dropped by hand) is not ready: events would go to
// the log only.
func TestPingAsksTheTrailItself(t *testing.T) {
	dir := t.TempDir()
	s := open(t, audit.Options{Dir: dir})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("a fresh trail: %v", err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, audit.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("DROP TABLE audit_event"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Error("a database without the trail's table is ready")
	}
}
