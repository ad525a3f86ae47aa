package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/audit"
	"github.com/keyportal/keyportal/internal/pgtest"
)

// 7. The audit trail: what recording an event adds to a revoke (the same
// revoke with and without the database, interleaved), and what the audit
// page costs over 100,000 events.
func (b *bench) auditTrail() {
	r := b.rep
	n := b.n.events
	progress(fmt.Sprintf("audit trail: %s events, revokes with and without the database", formatInt(n)))
	fmt.Fprintf(r, "## 9. The audit trail\n\n")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	visible, err := b.direct.client.As(b.direct.token).WithIdentity(b.direct.id).KeyIDs(b.ctx)
	must(err)

	// The portal's own SQLite file, and a PostgreSQL when the machine has one.
	type namedStore struct {
		name  string
		store *audit.Store
	}
	sqlite, err := audit.Open(b.ctx, audit.Options{Dir: b.dataDir, Log: quiet, Now: spread(n)})
	must(err)
	defer sqlite.Close()
	stores := []namedStore{{"SQLite", sqlite}}
	pgNote := ""
	if pg, err := pgtest.Run(); err != nil {
		pgNote = " PostgreSQL was not measured: " + err.Error() + "."
	} else {
		defer pg.Close()
		url, err := pg.NewDatabase()
		must(err)
		st, err := audit.Open(b.ctx, audit.Options{URL: url, Log: quiet, Now: spread(n)})
		must(err)
		defer st.Close()
		stores = append(stores, namedStore{"PostgreSQL", st})
	}
	fillTimes := map[string]time.Duration{}
	for _, s := range stores {
		progress("filling " + s.name)
		start := time.Now()
		b.check(fillEvents(b.ctx, s.store, n, visible, b.direct.id))
		fillTimes[s.name] = time.Since(start)
	}

	r.para("The database holds %s events (%s of them about the %s keys the bench's user can see, the rest about "+
		"keys it cannot see, acted on by someone else), made with `Store.Record` as the portal makes them (eight at a "+
		"time: SQLite took %s, PostgreSQL %s). PostgreSQL is a local server of Debian's package (as in the tests: "+
		"fsync off) on the same machine.%s",
		formatInt(n), formatInt(n*8/10), formatInt(len(visible)), fillTimes["SQLite"].Round(time.Millisecond),
		fillTimes["PostgreSQL"].Round(time.Millisecond), pgNote)

	// A/B: the same revoke with the log alone and with the database too.
	type way struct {
		name string
		svc  *apikeys.Service
	}
	trail, err := apikeys.OpenLogTrail(quiet, "")
	must(err)
	ways := []way{{"log only (before)", apikeys.New(time.Now, trail)}}
	for _, s := range stores {
		ways = append(ways, way{"log and " + s.name, apikeys.New(time.Now, apikeys.Recorders{trail, s.store})})
	}
	page, _, err := b.direct.list(b.ctx, apiclient.KeyQuery{Kinds: []apiclient.KeyKind{apiclient.KindDevice}, Skip: 5000, Top: b.n.revokes * len(ways)})
	must(err)
	caller := apikeys.Caller{API: b.direct.client.As(b.direct.token).WithIdentity(b.direct.id), Identity: b.direct.id, Ref: "bench"}
	times := make([]sample, len(ways))
	for i := 0; i < b.n.revokes && b.ctx.Err() == nil; i++ {
		for j := range ways {
			w := (i + j) % len(ways) // each way goes first in turn
			k := page.Keys[i*len(ways)+j]
			start := time.Now()
			_, err := ways[w].svc.Revoke(b.ctx, caller, k.ID)
			times[w] = append(times[w], time.Since(start))
			b.check(err)
		}
	}
	r.para("**What recording adds to a revoke.** The same revoke (`apikeys.Service.Revoke`: read the key, delete it, " +
		"record the event) of device keys, the ways interleaved, each first in turn; the stand-in adds no latency, so " +
		"the difference is the write's whole cost. *Before* records to the log only, as the portal did before the " +
		"database.")
	var rows [][]string
	base := times[0]
	for w, t := range times {
		rows = append(rows, []string{ways[w].name, strconv.Itoa(len(t)), ms(t.pct(50)), ms(t.pct(99)),
			signed(t.pct(50) - base.pct(50)), signed(t.pct(99) - base.pct(99)), ratio(float64(t.pct(50)), float64(base.pct(50)))})
	}
	r.table([]string{"recorder", "n", "p50", "p99", "added p50", "added p99", "p50 ÷ before"}, rows)
	if len(times) > 1 {
		added := times[1].pct(50) - base.pct(50)
		r.verdict("recording in SQLite adds ≤ 2 ms to a revoke (p50)", signed(added), added <= 2*time.Millisecond)
	}

	// The audit page over the full table, through the portal.
	progress("audit page over " + formatInt(n) + " events")
	r.para("**The audit page over %s events**, through the portal (SQLite), signed in as a user who is not an audit "+
		"administrator: each view asks balena for the ids of the keys the user can see (%s, in pages of 10,000), then "+
		"counts and reads the page's 50 events among those keys' events and the user's own. *store only* is "+
		"`Store.List` for the first page's query alone.", formatInt(n), formatInt(len(visible)))
	views := []struct{ name, path string }{
		{"first page, full", "/audit"},
		{"first page, htmx", "/audit?hx"},
		{"filtered: action=revoke", "/audit?action=revoke"},
		{"filtered: one key", "/audit?key=" + strconv.FormatInt(visible[len(visible)/2], 10)},
		{"deep: page 1,000", "/audit?page=1000"},
	}
	rows = nil
	var first sample
	for _, v := range views {
		var s sample
		for i := 0; i < b.n.auditViews && b.ctx.Err() == nil; i++ {
			path, hx := v.path, false
			if path == "/audit?hx" {
				path, hx = "/audit", true
			}
			res, err := b.user.page(b.ctx, path, hx)
			b.check(err)
			s = append(s, res.duration)
		}
		if v.path == "/audit" {
			first = s
		}
		rows = append(rows, []string{v.name, "SQLite", strconv.Itoa(len(s)), ms(s.pct(50)), ms(s.pct(99))})
	}
	for _, st := range stores {
		q := audit.Filter{KeyIDs: visible, ActorID: b.direct.id.ActorID, Limit: 50}
		var s sample
		for i := 0; i < b.n.auditViews && b.ctx.Err() == nil; i++ {
			start := time.Now()
			_, _, err := st.store.List(b.ctx, q)
			s = append(s, time.Since(start))
			b.check(err)
		}
		rows = append(rows, []string{"first page, store only", st.name, strconv.Itoa(len(s)), ms(s.pct(50)), ms(s.pct(99))})
	}
	r.table([]string{"view", "database", "n", "p50", "p99"}, rows)
	r.verdict(fmt.Sprintf("/audit over %s events ≤ 250 ms (p50)", formatInt(n)), ms(first.pct(50)), first.pct(50) <= 250*time.Millisecond)
}

// spread is a clock for n events, one a second, ending about now.
func spread(n int) func() time.Time {
	start := time.Now().Add(-time.Duration(n) * time.Second)
	var i atomic.Int64
	return func() time.Time { return start.Add(time.Duration(i.Add(1)) * time.Second) }
}

// fillEvents records n events, eight at a time: most about keys the user
// can see, by the user or others, the rest about keys they cannot see.
func fillEvents(ctx context.Context, s *audit.Store, n int, visible []int64, me apiclient.Identity) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	var mu sync.Mutex
	next := 0
	for range 8 {
		g.Go(func() error {
			for ctx.Err() == nil {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return nil
				}
				a := apikeys.Actions[i%len(apikeys.Actions)]
				e := apikeys.Event{Action: a.Name, ActorID: 9_000_000 + int64(i%50), Username: "someone-" + strconv.Itoa(i%50),
					Outcome: apikeys.Done, Ref: "bench-" + strconv.Itoa(i)}
				e.Key = apiclient.APIKey{ID: 1_000_000_000 + int64(i), Name: "hidden key " + strconv.Itoa(i), Kind: apiclient.KindUser,
					Owner: apiclient.Owner{Username: e.Username}}
				if i%10 < 8 {
					k := visible[i%len(visible)]
					e.Key = apiclient.APIKey{ID: k, Name: "key " + strconv.FormatInt(k, 10), Kind: apiclient.KindDevice,
						Owner: apiclient.Owner{DeviceName: "device-" + strconv.Itoa(i%500)}}
					if i%2 == 0 {
						e.ActorID, e.Username = me.ActorID, me.Username
					}
				}
				old, new := "old name", "new name"
				e.Changes = []apikeys.Change{{Field: "name", Old: &old, New: &new}}
				s.Record(ctx, e)
			}
			return ctx.Err()
		})
	}
	return g.Wait()
}

// signed writes a difference with its sign.
func signed(d time.Duration) string {
	if d < 0 {
		return "−" + ms(-d)
	}
	return "+" + ms(d)
}
