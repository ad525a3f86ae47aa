package apiclient

import (
	"context"
	"net/http/httptest"
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
// its records are exact.
func newEnv(t testing.TB, opts balenasim.Options) *env {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if opts.Now == nil {
		opts.Now = func() time.Time { return now }
	}
	sim, err := balenasim.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL, Timeout: 5 * time.Second})
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

// deviceUUID finds a demo device's uuid by its name.
func (e *env) deviceUUID(t testing.TB, name string) string {
	t.Helper()
	for _, k := range e.sim.Keys() {
		if k.DeviceName == name {
			return k.DeviceUUID
		}
	}
	t.Fatalf("no device %q", name)
	return ""
}
