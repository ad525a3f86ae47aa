package apiclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
)

// The integration tests talk real HTTP to the stand-in, in process.

var profiles = []balenasim.Profile{balenasim.ProfileBalenaCloud, balenasim.ProfileOpenBalena}

type env struct {
	sim *balenasim.Sim
	srv *httptest.Server
	c   *Client
	now time.Time // the stand-in's clock, which stands still
}

// newEnv starts a stand-in whose clock stands still at now (truncated to
// the millisecond like balena's dates), so that expectations computed from
// its records are exact. Hooks may set up the server before it starts.
func newEnv(t testing.TB, opts balenasim.Options, hooks ...func(*http.Server)) *env {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if opts.Now == nil {
		opts.Now = func() time.Time { return now }
	}
	sim, err := balenasim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(sim)
	for _, h := range hooks {
		h(srv.Config)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL, Timeout: balenasim.CallTimeout(opts.Dataset)})
	if err != nil {
		t.Fatal(err)
	}
	c.retryBase = time.Millisecond
	return &env{sim: sim, srv: srv, c: c, now: opts.Now()}
}

// session signs in as email with a token whose password step was just now.
func (e *env) session(t testing.TB, email string) *Session {
	t.Helper()
	tok, err := e.sim.IssueToken(email, e.now)
	if err != nil {
		t.Fatal(err)
	}
	e.sim.ResetCounters()
	return e.c.As(tok)
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSmoke(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			e := newEnv(t, balenasim.Options{Profile: p})
			s := e.session(t, balenasim.DemoEmail)
			id, err := s.WhoAmI(ctx(t))
			t.Logf("whoami %+v %v", id, err)
			page, err := s.ListKeys(ctx(t), KeyQuery{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("total %d", page.Total)
			for _, k := range page.Keys {
				t.Logf("%+v", k)
			}
			t.Log(e.sim.Counters().ByRouteStatus)
		})
	}
}

// find returns the first of the stand-in's key records that match; tests
// use it to learn ids, uuids and secrets of the seeded data.
func (e *env) find(t testing.TB, what string, match func(balenasim.KeyRecord) bool) balenasim.KeyRecord {
	t.Helper()
	for _, k := range e.sim.Keys() {
		if match(k) {
			return k
		}
	}
	t.Fatalf("no %s in the stand-in", what)
	return balenasim.KeyRecord{}
}

func (e *env) findKey(t testing.TB, secret string) balenasim.KeyRecord {
	return e.find(t, "key with this secret", func(k balenasim.KeyRecord) bool { return k.Secret == secret })
}

func (e *env) fleetID(t testing.TB, slug string) int64 {
	return e.find(t, "fleet "+slug, func(k balenasim.KeyRecord) bool { return k.FleetSlug == slug }).FleetID
}

func (e *env) device(t testing.TB, name string) balenasim.KeyRecord {
	return e.find(t, "device "+name, func(k balenasim.KeyRecord) bool { return k.DeviceName == name })
}

// attempts records, on the client's side, every request sent and the status
// it got (0 for none). The stand-in counts a reset connection only after
// the client has already seen it fail, so exact counts are taken here.
type attempts struct {
	rt       http.RoundTripper
	mu       sync.Mutex
	statuses []int
}

func (a *attempts) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := a.rt.RoundTrip(r)
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	a.mu.Lock()
	a.statuses = append(a.statuses, status)
	a.mu.Unlock()
	return resp, err
}

func (a *attempts) list() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.statuses)
}

// countAttempts makes the env's Client record its requests.
func (e *env) countAttempts() *attempts {
	a := &attempts{rt: newTransport()}
	e.c.http = &http.Client{Transport: a}
	return a
}
