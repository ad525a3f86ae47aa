package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/keyportal/keyportal/handlers"
	"github.com/keyportal/keyportal/handlers/portaltest"
)

// A keys view costs one round trip at balena: the page of keys and its
// count in parallel, plus, for a full page whose fleets are not cached, the
// fleets for the filter's menu. The stand-in counts the calls; a door in
// front of it proves the parallelism without timing anything.
func TestAKeysViewCostsOneRoundTripUpstream(t *testing.T) {
	d := &door{}
	front := httptest.NewServer(d)
	t.Cleanup(front.Close)
	env, b := signedIn(t, portaltest.Options{Config: func(c *handlers.Config) {
		d.open(c.BalenaAPIURL) // the stand-in's URL; the portal talks to the door instead
		c.BalenaAPIURL = front.URL
	}})

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
				d.expect()
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
				if !d.met() { // every view would wait at the door: stop at the first
					t.Fatalf("%s (htmx=%v): the list and the count were asked one after the other", path, fragment)
				}
			}
		}
	}
}

// door passes every request on to the stand-in, but holds the list of keys
// and its count each until the other has arrived as well. Asked in
// parallel, they meet at once; asked one after the other, the first waits
// in vain for a partner that is only sent after its answer, and goes on
// alone after a while, which the test then reports.
type door struct {
	proxy *httputil.ReverseProxy

	mu      sync.Mutex
	arrived map[string]chan struct{} // closed when that request is at the door
	seen    map[string]bool          // a retry of the same call is not its partner
	partner int                      // requests that found their partner
}

const (
	listPath  = "/v7/api_key"
	countPath = "/v7/api_key/$count"
)

func (d *door) open(target string) {
	u, _ := url.Parse(target)
	d.proxy = httputil.NewSingleHostReverseProxy(u)
}

// expect readies the door for one view.
func (d *door) expect() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.arrived = map[string]chan struct{}{listPath: make(chan struct{}), countPath: make(chan struct{})}
	d.seen, d.partner = map[string]bool{}, 0
}

// met reports whether the list and the count of the last view met.
func (d *door) met() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.partner == 2
}

func (d *door) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	other := map[string]string{listPath: countPath, countPath: listPath}[r.URL.Path]
	d.mu.Lock()
	mine, theirs := d.arrived[r.URL.Path], d.arrived[other]
	first := mine != nil && theirs != nil && !d.seen[r.URL.Path]
	if first {
		d.seen[r.URL.Path] = true
		close(mine)
	}
	d.mu.Unlock()
	if first {
		// The wait bounds a failure only (the portal's limit per call is 5s).
		select {
		case <-theirs:
			d.mu.Lock()
			d.partner++
			d.mu.Unlock()
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}
	d.proxy.ServeHTTP(w, r)
}
