package handlers_test

import (
	"testing"

	"github.com/keyportal/keyportal/handlers/portaltest"
)

// A keys view costs one round trip at balena: the page of keys and its
// count in parallel, plus, for a full page whose fleets are not cached, the
// fleets for the filter's menu. The stand-in counts the calls, and its
// rendezvous proves the parallelism without timing anything.
func TestAKeysViewCostsOneRoundTripUpstream(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})

	filters := []string{
		"",
		"kind=user",
		"kind=device&status=active",
		"kind=provisioning&kind=device&sort=name",
		"q=gw",
		"fleet=acme/plant-3",
		"status=expiring&within=30&sort=expiry_date",
		"created_after=2020-01-01&expires_before=2099-12-31",
		"page=2",
		"seen_before=2025-01-01",
		"kind=device&status=never&seen_before=2099-12-31&fleet=acme/plant-3",
	}
	for _, perPage := range []string{"10", "50", "100"} {
		for _, filter := range filters {
			path := "/keys?per_page=" + perPage
			if filter != "" {
				path += "&" + filter
			}
			for _, fragment := range []bool{false, true} {
				env.Sim.ResetCounters()
				// The wait bounds a failure only: a call sent after the other's
				// answer would have it wait in vain, for half of what a call may take.
				meet := env.Sim.Rendezvous(env.Config.UpstreamTimeout/2, "GET /v7/api_key", "GET /v7/api_key/$count")
				var p page
				if fragment {
					p = b.get(path, "HX-Request", "true")
				} else {
					p = b.get(path)
				}
				if p.status != 200 {
					t.Errorf("%s (htmx=%v): status %d", path, fragment, p.status)
					continue
				}
				c := env.Sim.Counters()
				limit := 3
				if fragment {
					limit = 2
				}
				if c.Total() > limit {
					t.Errorf("%s (htmx=%v): %d calls to balena, want at most %d: %v", path, fragment, c.Total(), limit, c.ByRoute)
				}
				if c.Get("GET /v7/api_key") != 1 || c.Get("GET /v7/api_key/$count") != 1 {
					t.Errorf("%s (htmx=%v): want one list and one count, got %v", path, fragment, c.ByRoute)
				}
				if !meet.Met() { // every view would wait: stop at the first
					t.Fatalf("%s (htmx=%v): the list and the count were asked one after the other", path, fragment)
				}
			}
		}
	}
}
