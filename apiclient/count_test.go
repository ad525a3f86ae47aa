package apiclient

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
)

func TestCountKeysAsksOnlyTheCount(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newModeEnv(t, m, balenasim.Options{})
			s := e.session(t, balenasim.DemoEmail)
			soon := e.now.Add(7 * 24 * time.Hour)
			queries := []struct {
				q    KeyQuery
				want func(balenasim.KeyRecord) bool
			}{
				{KeyQuery{Kinds: []KeyKind{KindDevice}}, func(k balenasim.KeyRecord) bool { return k.Kind == balenasim.KindDevice }},
				{KeyQuery{Kinds: []KeyKind{KindUser}, Status: StatusNever}, func(k balenasim.KeyRecord) bool {
					return k.Kind == balenasim.KindUser && k.ExpiryDate == nil
				}},
				{KeyQuery{Status: StatusActive, ExpiresBefore: &soon}, func(k balenasim.KeyRecord) bool {
					return k.ExpiryDate != nil && k.ExpiryDate.After(e.now) && k.ExpiryDate.Before(soon)
				}},
				{KeyQuery{ExpiresAfter: &soon}, func(k balenasim.KeyRecord) bool { return k.ExpiryDate != nil && !k.ExpiryDate.Before(soon) }},
			}
			for _, tc := range queries {
				want := 0
				for _, k := range e.sim.Keys() {
					if visibleToAdmin(m.profile, k) && tc.want(k) {
						want++
					}
				}
				got, err := s.CountKeys(ctx(t), tc.q)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("CountKeys(%+v) = %d, want %d", tc.q, got, want)
				}
			}
			if m.profile == balenasim.ProfileBalenaCloud && !m.hidden {
				c := e.sim.Counters()
				if c.Get("GET /v7/api_key") != 0 || c.Get("GET /v7/api_key/$count") != len(queries) {
					t.Errorf("calls %v, want only %d counts", c.ByRoute, len(queries))
				}
			}
		})
	}
}

func TestObserveHearsEndpointTemplates(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	e := newEnv(t, balenasim.Options{})
	c, err := New(Options{BaseURL: e.srv.URL, Observe: func(endpoint string, code int, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		seen[endpoint] = code
		if d < 0 {
			t.Errorf("negative duration for %s", endpoint)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.sim.IssueToken(balenasim.DemoEmail, e.now)
	if err != nil {
		t.Fatal(err)
	}
	s := c.As(tok)
	if _, err := s.ListKeys(ctx(t), KeyQuery{Top: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetKey(ctx(t), 999999); ErrorCode(err) != CodeNotFound {
		t.Fatalf("GetKey of a missing key: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"GET /v7/api_key", "GET /v7/api_key/$count"} {
		if seen[want] != 200 {
			t.Errorf("%s: code %d, want 200 (seen %v)", want, seen[want], seen)
		}
	}
	for ep := range seen {
		if strings.Contains(ep, "999999") || strings.Contains(ep, "?") {
			t.Errorf("endpoint %q carries an id or a query", ep)
		}
	}
}

func TestEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"/v7/api_key(5)":                       "GET /v7/api_key(id)",
		"/v7/api_key":                          "GET /v7/api_key",
		"/api-key/application/12/provisioning": "GET /api-key/application/:id/provisioning",
		"/api-key/device/7":                    "GET /api-key/device/:id",
		"/v7/application(@id)":                 "GET /v7/application(id)",
	} {
		if got := Endpoint("GET", in); got != want {
			t.Errorf("Endpoint(%q) = %q, want %q", in, got, want)
		}
	}
}
