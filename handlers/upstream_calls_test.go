package handlers_test

import (
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
)

// A keys view costs one round trip at balena: the page of keys and its
// count in parallel, plus, for the full page only, the fleets for the
// filter's menu, also in parallel. These are counts, not timings: the
// stand-in's added latency only makes every call last long enough that
// calls started together are seen to overlap.
func TestAKeysViewCostsOneRoundTripUpstream(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	env.Sim.SetFaults(balenasim.Faults{Latency: 50 * time.Millisecond})

	const list, count = "GET /v7/api_key", "GET /v7/api_key/$count"
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
	}
	for _, perPage := range []string{"10", "50", "100"} {
		for _, filter := range filters {
			path := "/keys?per_page=" + perPage
			if filter != "" {
				path += "&" + filter
			}
			for _, fragment := range []bool{false, true} {
				env.Sim.ResetCounters()
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
				if c.Get(list) != 1 || c.Get(count) != 1 {
					t.Errorf("%s (htmx=%v): want one list and one count, got %v", path, fragment, c.ByRoute)
				}
				if !c.Overlapped(list, count) {
					t.Errorf("%s (htmx=%v): the list and the count ran one after the other: %+v", path, fragment, c.Spans)
				}
				if c.Total() > 1 && c.MaxInFlight != c.Total() {
					t.Errorf("%s (htmx=%v): %d calls but at most %d at once: %+v", path, fragment, c.Total(), c.MaxInFlight, c.Spans)
				}
			}
		}
	}
}
