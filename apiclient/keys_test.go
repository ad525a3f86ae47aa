package apiclient

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
)

// mode is one way the client can meet balena: the balenaCloud profile with
// owners expanded, the same data asked for by actor ids (as if actor were
// unreadable), and the open-balena profile.
type mode struct {
	name    string
	profile balenasim.Profile
	hidden  bool // start the Client believing actor is unreadable
}

var modes = []mode{
	{"balenacloud", balenasim.ProfileBalenaCloud, false},
	{"balenacloud-by-ids", balenasim.ProfileBalenaCloud, true},
	{"openbalena", balenasim.ProfileOpenBalena, false},
}

func newModeEnv(t testing.TB, m mode, opts balenasim.Options, hooks ...func(*http.Server)) *env {
	opts.Profile = m.profile
	e := newEnv(t, opts, hooks...)
	if m.hidden {
		e.c.actorAccess.Store(actorHidden)
	}
	return e
}

// visibleToAdmin is section 4 for the demo admin: own user keys, and on
// balenaCloud the provisioning and device keys of the acme fleets they
// administer.
func visibleToAdmin(p balenasim.Profile, k balenasim.KeyRecord) bool {
	if k.Kind == balenasim.KindUser {
		return k.OwnerEmail == balenasim.DemoEmail
	}
	return p == balenasim.ProfileBalenaCloud && strings.HasPrefix(k.FleetSlug, "acme/")
}

func lower(p *string) string {
	if p == nil {
		return ""
	}
	return strings.ToLower(*p)
}

// expectedOrder sorts records the way pine does: nulls last ascending and
// first descending, then by id in the same direction.
func expectedOrder(q KeyQuery, recs []balenasim.KeyRecord) {
	field, desc := q.Sort, q.Desc
	if field == "" {
		field, desc = SortCreatedAt, true
	}
	slices.SortFunc(recs, func(a, b balenasim.KeyRecord) int {
		// Unnamed keys come last by name in both directions.
		if field == SortName && (a.Name == nil) != (b.Name == nil) {
			return cmpNullable(a.Name, b.Name, strings.Compare)
		}
		var c int
		switch field {
		case SortName:
			c = cmpNullable(a.Name, b.Name, strings.Compare)
		case SortCreatedAt:
			c = a.CreatedAt.Compare(b.CreatedAt)
		case SortExpiry:
			c = cmpNullable(a.ExpiryDate, b.ExpiryDate, func(x, y time.Time) int { return x.Compare(y) })
		}
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if desc {
			return -c
		}
		return c
	})
}

// cmpNullable orders null after every value, so that reversing the order
// puts nulls first.
func cmpNullable[T any](a, b *T, f func(T, T) int) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return f(*a, *b)
}

// checkKey compares what the client made of a row with the stand-in's record.
func checkKey(t *testing.T, got APIKey, want balenasim.KeyRecord) {
	t.Helper()
	w := APIKey{
		ID: want.ID, CreatedAt: want.CreatedAt, ExpiryDate: want.ExpiryDate,
		Kind: KeyKind(want.Kind), Owner: Owner{ActorID: want.ActorID},
	}
	if want.Name != nil {
		w.Name = *want.Name
	}
	if want.Description != nil {
		w.Description = *want.Description
	}
	switch w.Kind {
	case KindUser:
		w.Owner.Username = want.OwnerUsername
	case KindProvisioning:
		w.Owner.FleetID, w.Owner.FleetSlug = want.FleetID, want.FleetSlug
	case KindDevice:
		w.Owner.DeviceID, w.Owner.DeviceUUID, w.Owner.DeviceName = want.DeviceID, want.DeviceUUID, want.DeviceName
		w.Owner.DeviceOnline, w.Owner.DeviceLastSeen = want.DeviceOnline, want.DeviceLastSeen
	}
	gotOwner, wantOwner := got.Owner, w.Owner
	gotOwner.DeviceLastSeen, wantOwner.DeviceLastSeen = nil, nil
	if got.ID != w.ID || got.Name != w.Name || got.Description != w.Description || !got.CreatedAt.Equal(w.CreatedAt) ||
		!equalTime(got.ExpiryDate, w.ExpiryDate) || got.Kind != w.Kind || gotOwner != wantOwner ||
		!equalTime(got.Owner.DeviceLastSeen, w.Owner.DeviceLastSeen) {
		t.Errorf("key %d:\n got %+v\nwant %+v", want.ID, got, w)
	}
}

// silentSince reports whether k is a device key whose device is offline
// and was last seen before t, or never: what KeyQuery.SeenBefore keeps.
func silentSince(k balenasim.KeyRecord, t time.Time) bool {
	return k.Kind == balenasim.KindDevice && !k.DeviceOnline && (k.DeviceLastSeen == nil || k.DeviceLastSeen.Before(t))
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func TestListKeys(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	ago := func(days int) *time.Time { t := now.AddDate(0, 0, -days); return &t }
	ahead := func(days int) *time.Time { t := now.AddDate(0, 0, days); return &t }
	expires := func(k balenasim.KeyRecord, lo, hi time.Time) bool {
		return k.ExpiryDate != nil && !k.ExpiryDate.Before(lo) && k.ExpiryDate.Before(hi)
	}
	clock := balenasim.Options{Now: func() time.Time { return now }}
	gw17 := newEnv(t, clock).device(t, "gw-17").DeviceUUID
	tests := []struct {
		name string
		q    KeyQuery
		want func(k balenasim.KeyRecord) bool
	}{
		{"all, newest first", KeyQuery{}, nil},
		{"user keys", KeyQuery{Kinds: []KeyKind{KindUser}}, func(k balenasim.KeyRecord) bool { return k.Kind == balenasim.KindUser }},
		{"provisioning keys", KeyQuery{Kinds: []KeyKind{KindProvisioning}}, func(k balenasim.KeyRecord) bool { return k.Kind == balenasim.KindProvisioning }},
		{"device keys", KeyQuery{Kinds: []KeyKind{KindDevice}}, func(k balenasim.KeyRecord) bool { return k.Kind == balenasim.KindDevice }},
		{"user or device keys", KeyQuery{Kinds: []KeyKind{KindUser, KindDevice}}, func(k balenasim.KeyRecord) bool { return k.Kind != balenasim.KindProvisioning }},
		{"fleet", KeyQuery{Fleet: "acme/plant-3"}, func(k balenasim.KeyRecord) bool {
			return k.Kind != balenasim.KindUser && k.FleetSlug == "acme/plant-3"
		}},
		{"fleet and device kind", KeyQuery{Fleet: "acme/plant-3", Kinds: []KeyKind{KindDevice}}, func(k balenasim.KeyRecord) bool {
			return k.Kind == balenasim.KindDevice && k.FleetSlug == "acme/plant-3"
		}},
		{"unknown fleet", KeyQuery{Fleet: "acme/nowhere"}, func(balenasim.KeyRecord) bool { return false }},
		{"fleet slug with quotes", KeyQuery{Fleet: "acme/plant-3' or '1' eq '1"}, func(balenasim.KeyRecord) bool { return false }},
		{"device uuid with quotes", KeyQuery{Device: gw17 + "') or (1 eq 1"}, func(balenasim.KeyRecord) bool { return false }},
		{"device", KeyQuery{Device: gw17}, func(k balenasim.KeyRecord) bool { return k.DeviceUUID == gw17 }},
		{"device by name", KeyQuery{Device: "gw-17"}, func(k balenasim.KeyRecord) bool { return k.DeviceUUID == gw17 }},
		{"device by uuid prefix, upper case", KeyQuery{Device: strings.ToUpper(gw17[:7])}, func(k balenasim.KeyRecord) bool { return k.DeviceUUID == gw17 }},
		{"a name is not a prefix", KeyQuery{Device: "gw-1"}, func(balenasim.KeyRecord) bool { return false }},
		{"fleet by name", KeyQuery{Fleet: "plant-3"}, func(k balenasim.KeyRecord) bool {
			return k.Kind != balenasim.KindUser && k.FleetSlug == "acme/plant-3"
		}},
		{"text in name, any case", KeyQuery{Text: "PROV"}, func(k balenasim.KeyRecord) bool {
			return strings.Contains(lower(k.Name), "prov") || strings.Contains(lower(k.Description), "prov")
		}},
		{"text in description", KeyQuery{Text: "deploys"}, func(k balenasim.KeyRecord) bool { return strings.Contains(lower(k.Description), "deploys") }},
		{"text with quote and ampersand", KeyQuery{Text: "'s & "}, func(balenasim.KeyRecord) bool { return false }},
		{"active", KeyQuery{Status: StatusActive}, func(k balenasim.KeyRecord) bool { return !k.Expired(now) }},
		{"expired", KeyQuery{Status: StatusExpired}, func(k balenasim.KeyRecord) bool { return k.Expired(now) }},
		{"expiring within 7 days", KeyQuery{Status: StatusExpiring}, func(k balenasim.KeyRecord) bool {
			return expires(k, now, now.AddDate(0, 0, 7))
		}},
		{"expiring within 2 days", KeyQuery{Status: StatusExpiring, WithinDays: 2}, func(k balenasim.KeyRecord) bool {
			return expires(k, now, now.AddDate(0, 0, 2))
		}},
		{"never expires", KeyQuery{Status: StatusNever}, func(k balenasim.KeyRecord) bool { return k.ExpiryDate == nil }},
		{"created in the last 100 days", KeyQuery{CreatedAfter: ago(100)}, func(k balenasim.KeyRecord) bool { return !k.CreatedAt.Before(*ago(100)) }},
		{"created 100 to 400 days ago", KeyQuery{CreatedAfter: ago(400), CreatedBefore: ago(100)}, func(k balenasim.KeyRecord) bool {
			return !k.CreatedAt.Before(*ago(400)) && k.CreatedAt.Before(*ago(100))
		}},
		{"expires in the next 30 days", KeyQuery{ExpiresAfter: &now, ExpiresBefore: ahead(30)}, func(k balenasim.KeyRecord) bool {
			return expires(k, now, *ahead(30))
		}},
		{"device last seen over 30 days ago, or never", KeyQuery{SeenBefore: ago(30)}, func(k balenasim.KeyRecord) bool {
			return silentSince(k, *ago(30))
		}},
		{"seen before, only ever device keys", KeyQuery{SeenBefore: &now, Kinds: []KeyKind{KindUser, KindProvisioning}}, func(balenasim.KeyRecord) bool { return false }},
		{"seen before long ago: never seen", KeyQuery{SeenBefore: ago(3650)}, func(k balenasim.KeyRecord) bool {
			return k.Kind == balenasim.KindDevice && !k.DeviceOnline && k.DeviceLastSeen == nil
		}},
		{"seen before, in a fleet, never expiring", KeyQuery{SeenBefore: ago(30), Fleet: "plant-3", Status: StatusNever}, func(k balenasim.KeyRecord) bool {
			return silentSince(k, *ago(30)) && k.FleetSlug == "acme/plant-3" && k.ExpiryDate == nil
		}},
		{"by name", KeyQuery{Sort: SortName}, nil},
		{"by name, descending", KeyQuery{Sort: SortName, Desc: true}, nil},
		{"by expiry", KeyQuery{Sort: SortExpiry}, nil},
		{"by expiry, descending", KeyQuery{Sort: SortExpiry, Desc: true}, nil},
		{"oldest first", KeyQuery{Sort: SortCreatedAt}, nil},
		{"second page by name", KeyQuery{Sort: SortName, Top: 4, Skip: 4}, nil},
		{"past the end", KeyQuery{Top: 10, Skip: 1000}, nil},
		{"active plant keys by name", KeyQuery{Kinds: []KeyKind{KindProvisioning}, Status: StatusActive, Text: "plant", Sort: SortName}, func(k balenasim.KeyRecord) bool {
			return k.Kind == balenasim.KindProvisioning && !k.Expired(now) &&
				(strings.Contains(lower(k.Name), "plant") || strings.Contains(lower(k.Description), "plant"))
		}},
	}
	// Pages of 4 by name Z–A, every one of them: the named keys, the page
	// where the unnamed ones begin, and those past it.
	for skip := 0; skip < 28; skip += 4 {
		tests = append(tests, struct {
			name string
			q    KeyQuery
			want func(balenasim.KeyRecord) bool
		}{fmt.Sprintf("by name, descending, from %d", skip), KeyQuery{Sort: SortName, Desc: true, Top: 4, Skip: skip}, nil})
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newModeEnv(t, m, clock)
			s := e.session(t, balenasim.DemoEmail)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var want []balenasim.KeyRecord
					for _, k := range e.sim.Keys() {
						if visibleToAdmin(m.profile, k) && (tt.want == nil || tt.want(k)) {
							want = append(want, k)
						}
					}
					expectedOrder(tt.q, want)
					total := len(want)
					want = want[min(tt.q.Skip, len(want)):]
					if tt.q.Top > 0 {
						want = want[:min(tt.q.Top, len(want))]
					}

					page, err := s.ListKeys(ctx(t), tt.q)
					if err != nil {
						t.Fatal(err)
					}
					if page.Total != total || len(page.Keys) != len(want) {
						t.Fatalf("got %d keys of %d, want %d of %d: %v", len(page.Keys), page.Total, len(want), total, ids(page.Keys))
					}
					for i := range want {
						checkKey(t, page.Keys[i], want[i])
					}
				})
			}
		})
	}
}

func ids(keys []APIKey) []int64 {
	out := make([]int64, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

// TestListKeysOneRoundTrip: a page costs the list and the count, side by
// side, and nothing else once the caller's identity is known.
func TestListKeysOneRoundTrip(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newModeEnv(t, m, balenasim.Options{})
			s := e.session(t, balenasim.DemoEmail)
			id, err := s.WhoAmI(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			// Learn the profile first. On open-balena this first list gives
			// up on a count whose partner failed; that count may reach the
			// stand-in late, so the warm-up searches for a marker that
			// tells its requests apart from the ones counted below.
			const warmup = "warm-up-marker"
			if _, err := s.ListKeys(ctx(t), KeyQuery{Text: warmup}); err != nil {
				t.Fatal(err)
			}
			s = s.WithIdentity(id)
			e.sim.ResetCounters()
			if _, err := s.ListKeys(ctx(t), KeyQuery{Kinds: []KeyKind{KindUser}, Text: "a", Top: 50}); err != nil {
				t.Fatal(err)
			}
			routes := map[string]int{}
			for _, sp := range e.sim.Counters().Spans {
				if !strings.Contains(sp.Query.Get("$filter"), warmup) {
					routes[sp.Route]++
				}
			}
			if len(routes) != 2 || routes["GET /v7/api_key"] != 1 || routes["GET /v7/api_key/$count"] != 1 {
				t.Errorf("requests: %v", routes)
			}
		})
	}
}

func TestListKeysInParallel(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	s := e.session(t, balenasim.DemoEmail)
	// Sent one after the other, the list would wait at the rendezvous in
	// vain for its count (the wait bounds that failure only).
	meet := e.sim.Rendezvous(3*time.Second, "GET /v7/api_key", "GET /v7/api_key/$count")
	if _, err := s.ListKeys(ctx(t), KeyQuery{}); err != nil {
		t.Fatal(err)
	}
	if !meet.Met() {
		t.Error("list and count did not run in parallel")
	}
}

// TestActorAccessIsLearntOnce: on open-balena the first list finds out that
// actor is unreadable; later lists of any session go straight to ids.
func TestActorAccessIsLearntOnce(t *testing.T) {
	e := newEnv(t, balenasim.Options{Profile: balenasim.ProfileOpenBalena})
	s := e.session(t, balenasim.DemoEmail)
	if _, err := s.ListKeys(ctx(t), KeyQuery{}); err != nil {
		t.Fatal(err)
	}
	if e.c.actorAccess.Load() != actorHidden {
		t.Fatal("actor access not learnt")
	}
	e.sim.ResetCounters()
	s2 := e.session(t, balenasim.DemoEmail)
	if _, err := s2.ListKeys(ctx(t), KeyQuery{}); err != nil {
		t.Fatal(err)
	}
	if n := e.sim.Counters().GetStatus("GET /v7/api_key", 401); n != 0 {
		t.Errorf("%d more 401s after learning", n)
	}
}

// TestBadTokenIsNotMistakenForHiddenActor: a 401 for a dead token, or for
// a fleet's key (which may not list keys at all), must not switch the
// Client to the id-based form.
func TestBadTokenIsNotMistakenForHiddenActor(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	fleetKey, err := e.session(t, balenasim.DemoEmail).CreateProvisioningKey(ctx(t), e.fleetID(t, "acme/lab"), NewKey{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"not-a-key", fleetKey} {
		_, err := e.c.As(tok).ListKeys(ctx(t), KeyQuery{})
		if ErrorCode(err) != CodeUnauthorized {
			t.Fatalf("got %v, want unauthorized", err)
		}
		if e.c.actorAccess.Load() != actorUnknown {
			t.Error("a 401 that was not about actor changed what the Client knows")
		}
	}
}

func TestListKeysRejectsBadQueries(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	s := e.session(t, balenasim.DemoEmail)
	for _, q := range []KeyQuery{{Sort: "key"}, {Status: "soon"}, {Kinds: []KeyKind{"org"}}, {Text: "\xc3"}} {
		_, err := s.ListKeys(ctx(t), q)
		if ErrorCode(err) != CodeInvalid {
			t.Errorf("ListKeys(%+v) = %v, want invalid", q, err)
		}
	}
	if n := e.sim.Counters().Total(); n != 0 {
		t.Errorf("%d requests for queries that cannot be sent", n)
	}
}

func TestGetKey(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newModeEnv(t, m, balenasim.Options{})
			s := e.session(t, balenasim.DemoEmail)
			for _, k := range e.sim.Keys() {
				t.Run(fmt.Sprint(k.ID), func(t *testing.T) {
					got, err := s.GetKey(ctx(t), k.ID)
					if !visibleToAdmin(m.profile, k) {
						if ErrorCode(err) != CodeNotFound {
							t.Errorf("invisible key: got %v, want not found", err)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					checkKey(t, got, k)
				})
			}
			if _, err := s.GetKey(ctx(t), 999999); ErrorCode(err) != CodeNotFound {
				t.Errorf("missing key: got %v, want not found", err)
			}
		})
	}
}

// The audit page filters events by the keys a user can see now: KeyIDs
// are exactly the keys the list shows, in one call, ids only.
func TestKeyIDsAreTheKeysTheCallerSees(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newModeEnv(t, m, balenasim.Options{})
			s := e.session(t, balenasim.DemoEmail)
			// KeyIDs first: a list before it, on open-balena, learns that
			// actor is hidden by a list and count of which the count is
			// cancelled, and may reach the stand-in after any reset.
			ids, err := s.KeyIDs(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			spans := e.sim.Counters().Spans
			all, err := s.ListKeys(ctx(t), KeyQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var want []int64
			for _, k := range all.Keys {
				want = append(want, k.ID)
			}
			slices.Sort(want)
			if !slices.Equal(ids, want) || len(ids) == 0 {
				t.Errorf("KeyIDs %v, want the listed keys %v", ids, want)
			}
			if len(spans) != 1 || spans[0].Query.Get("$select") != "id" {
				t.Errorf("%d requests (%v); want one that selects id only", len(spans), spans)
			}
		})
	}
}

// TestSeenBeforeCostsNoExtraCall: where actor is readable, the devices'
// last contact comes in the owner expansion and the filter is a lambda:
// a view of silent devices' keys is still the list and its count.
func TestSeenBeforeCostsNoExtraCall(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	s := e.session(t, balenasim.DemoEmail)
	id, err := s.WhoAmI(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	s = s.WithIdentity(id)
	if _, err := s.ListKeys(ctx(t), KeyQuery{}); err != nil { // learns the profile
		t.Fatal(err)
	}
	e.sim.ResetCounters()
	before := time.Now().AddDate(0, 0, -30)
	page, err := s.ListKeys(ctx(t), KeyQuery{SeenBefore: &before, Top: 50})
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]int{}
	for _, sp := range e.sim.Counters().Spans {
		routes[sp.Route]++
	}
	if len(routes) != 2 || routes["GET /v7/api_key"] != 1 || routes["GET /v7/api_key/$count"] != 1 {
		t.Errorf("requests: %v", routes)
	}
	if page.Total == 0 {
		t.Fatal("the demo has silent devices; none listed")
	}
	for _, k := range page.Keys {
		if k.Kind != KindDevice || k.Owner.DeviceOnline || (k.Owner.DeviceLastSeen != nil && !k.Owner.DeviceLastSeen.Before(before)) {
			t.Errorf("key %d of %s (online %v, last seen %v) is not a silent device's", k.ID, k.Owner.DeviceName, k.Owner.DeviceOnline, k.Owner.DeviceLastSeen)
		}
	}
}

// Where actor cannot be read, the keys of silent devices are filtered by
// the devices' actor ids, at most MaxReadIDs of them: more is refused with
// a word on narrowing the view, and a fleet narrows it.
func TestSeenBeforeByIDsIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("large dataset")
	}
	e := newModeEnv(t, mode{"by-ids", balenasim.ProfileBalenaCloud, true}, balenasim.Options{Dataset: "large"})
	s := e.session(t, balenasim.DemoEmail)
	day := time.Now().AddDate(0, 0, -30)
	_, err := s.ListKeys(ctx(t), KeyQuery{SeenBefore: &day})
	if ErrorCode(err) != CodeInvalid || !strings.Contains(err.Error(), "narrow") {
		t.Fatalf("every silent device of the large dataset: %v", err)
	}
	page, err := s.ListKeys(ctx(t), KeyQuery{SeenBefore: &day, Fleet: "acme/fleet-007"})
	if err != nil {
		t.Fatal(err)
	}
	var want int
	for _, k := range e.sim.Keys() {
		if k.FleetSlug == "acme/fleet-007" && silentSince(k, day) {
			want++
		}
	}
	if want == 0 || page.Total != want {
		t.Errorf("one fleet's silent devices' keys: %d, want %d", page.Total, want)
	}
}

// TestSharedSessionReadsTheFleetsOnce: on open-balena the counts of one
// page, asked at once on a Shared session, read the fleets once and count
// what they count alone; the next Shared session reads them afresh.
func TestSharedSessionReadsTheFleetsOnce(t *testing.T) {
	e := newEnv(t, balenasim.Options{Profile: balenasim.ProfileOpenBalena})
	s := e.session(t, balenasim.DemoEmail)
	if _, err := s.ListKeys(ctx(t), KeyQuery{}); err != nil { // learns that actor is hidden
		t.Fatal(err)
	}
	var qs []KeyQuery
	for _, k := range []KeyKind{KindUser, KindProvisioning, KindDevice} {
		qs = append(qs, KeyQuery{Kinds: []KeyKind{k}}, KeyQuery{Kinds: []KeyKind{k}, Status: StatusNever})
	}
	want := make([]int, len(qs))
	for i, q := range qs {
		n, err := s.CountKeys(ctx(t), q)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = n
	}
	for range 2 {
		e.sim.ResetCounters()
		shared := s.Shared()
		got := make([]int, len(qs))
		errs := make([]error, len(qs))
		var wg sync.WaitGroup
		for i, q := range qs {
			wg.Go(func() { got[i], errs[i] = shared.CountKeys(ctx(t), q) })
		}
		wg.Wait()
		for i := range qs {
			if errs[i] != nil || got[i] != want[i] {
				t.Errorf("%+v: %d, %v; want %d", qs[i], got[i], errs[i], want[i])
			}
		}
		if n := e.sim.Counters().Get("GET /v7/application"); n != 1 {
			t.Errorf("the fleets were read %d times, want once", n)
		}
	}
}

// TestSharedReadOutlivesOneCallersEnd: a shared read belongs to the Shared
// session, not to the caller that happened to start it. When that caller's
// context ends (a sibling's failure cancelling it, a closed page), the
// callers still waiting get the read's answer, and nobody asks balena
// again. The overview once answered 504 when the stale-devices section,
// failing, cancelled the fleets read its counts were waiting on.
func TestSharedReadOutlivesOneCallersEnd(t *testing.T) {
	e := newEnv(t, balenasim.Options{Profile: balenasim.ProfileOpenBalena, Dataset: "demo"})
	s := e.session(t, balenasim.DemoEmail)
	if _, err := s.ListKeys(ctx(t), KeyQuery{}); err != nil { // learns that actor is hidden
		t.Fatal(err)
	}
	// Counting by kind needs the fleets, where actor cannot be read.
	q := KeyQuery{Kinds: []KeyKind{KindProvisioning}}
	want, err := s.CountKeys(ctx(t), q)
	if err != nil {
		t.Fatal(err)
	}
	e.sim.ResetCounters()
	shared := s.Shared()
	gone, cancel := context.WithCancel(ctx(t))
	cancel()
	_, _ = shared.CountKeys(gone, q) // starts the fleets read, and gives up on it
	if got, err := shared.CountKeys(ctx(t), q); err != nil || got != want {
		t.Errorf("after another caller gave up: %d, %v; want %d", got, err, want)
	}
	if n := e.sim.Counters().Get("GET /v7/application"); n != 1 {
		t.Errorf("the fleets were read %d times, want once", n)
	}
}

// TestSharedReadAnswersTheCallersStillWaiting: the caller that started a
// shared read gives up while it is in flight; the read goes on, and the
// caller still waiting gets its answer, from one read.
func TestSharedReadAnswersTheCallersStillWaiting(t *testing.T) {
	s := (&Client{}).As("token").Shared()
	started, release := make(chan struct{}), make(chan struct{})
	var reads atomic.Int32
	read := func(ctx context.Context) (int, error) {
		if reads.Add(1) == 1 {
			close(started)
		}
		select {
		case <-release:
			return 7, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	first, giveUp := context.WithCancel(ctx(t))
	firstDone := make(chan error)
	go func() {
		_, err := readOnce(first, s, "k", read)
		firstDone <- err
	}()
	<-started
	giveUp()
	if err := <-firstDone; err == nil {
		t.Error("the caller that gave up got an answer")
	}
	second := make(chan int)
	go func() {
		v, err := readOnce(ctx(t), s, "k", read)
		if err != nil {
			t.Errorf("the caller still waiting: %v", err)
		}
		second <- v
	}()
	close(release)
	if v := <-second; v != 7 {
		t.Errorf("the caller still waiting got %d, want 7", v)
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("%d reads, want 1", n)
	}
}
