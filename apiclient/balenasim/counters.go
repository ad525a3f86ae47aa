package balenasim

import (
	"maps"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Counters is a snapshot of the requests the stand-in served since the last
// reset, so that tests can assert how many upstream calls a page made and
// whether calls ran in parallel.
type Counters struct {
	// ByRoute counts requests by normalised route, e.g. "GET /v7/api_key",
	// "GET /v7/api_key/$count", "PATCH /v7/api_key(id)", "POST /login_",
	// "POST /api-key/application/:id/provisioning".
	ByRoute map[string]int
	// ByRouteStatus counts by route and status: "GET /v7/api_key 200".
	// A connection reset by fault injection has status 0.
	ByRouteStatus map[string]int
	// ByStatus counts by status alone.
	ByStatus map[int]int
	// MaxInFlight is the most requests that were being served at once.
	MaxInFlight int
	// Spans are the most recent requests (up to 10,000), oldest first.
	Spans []Span
}

// Span is one served request.
type Span struct {
	Route  string
	Query  url.Values // the request's query, decoded
	Status int
	// Start is when the stand-in began serving, End when it answered.
	Start, End time.Time
}

// Get returns how many requests a route got, e.g. Get("GET /v7/api_key").
func (c Counters) Get(route string) int { return c.ByRoute[route] }

// GetStatus returns how many requests to route answered status.
func (c Counters) GetStatus(route string, status int) int {
	return c.ByRouteStatus[route+" "+strconv.Itoa(status)]
}

// Total returns the number of requests served.
func (c Counters) Total() int {
	n := 0
	for _, v := range c.ByRoute {
		n += v
	}
	return n
}

// Routes lists the routes seen, sorted.
func (c Counters) Routes() []string {
	out := make([]string, 0, len(c.ByRoute))
	for r := range c.ByRoute {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// Overlapped reports whether two requests to the given routes (which may be
// the same route) were in flight at the same moment.
func (c Counters) Overlapped(routeA, routeB string) bool {
	for i, a := range c.Spans {
		if a.Route != routeA {
			continue
		}
		for j, b := range c.Spans {
			if i == j || b.Route != routeB {
				continue
			}
			if a.Start.Before(b.End) && b.Start.Before(a.End) {
				return true
			}
		}
	}
	return false
}

const maxSpans = 10_000

type counterState struct {
	mu       sync.Mutex
	byRoute  map[string]int
	byStatus map[string]int
	byCode   map[int]int
	inFlight int
	maxIn    int
	spans    []Span
	idle     *sync.Cond // signalled when inFlight drops to 0
}

func newCounterState() *counterState {
	c := &counterState{}
	c.idle = sync.NewCond(&c.mu)
	c.reset()
	return c
}

// settleWait bounds how long a reset waits for requests in flight.
const settleWait = time.Second

func (c *counterState) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A request whose answer the client already has may not have ended
	// here yet; were it counted after the reset, a test that resets
	// between two calls would count the first call against the second.
	// A request held on purpose (Hold, latency) is waited for only briefly.
	if c.inFlight > 0 {
		deadline := time.Now().Add(settleWait)
		t := time.AfterFunc(settleWait, func() { c.mu.Lock(); c.idle.Broadcast(); c.mu.Unlock() })
		for c.inFlight > 0 && time.Now().Before(deadline) {
			c.idle.Wait()
		}
		t.Stop()
	}
	c.byRoute, c.byStatus, c.byCode = map[string]int{}, map[string]int{}, map[int]int{}
	c.maxIn = c.inFlight
	c.spans = nil
}

func (c *counterState) begin() {
	c.mu.Lock()
	c.inFlight++
	c.maxIn = max(c.maxIn, c.inFlight)
	c.mu.Unlock()
}

func (c *counterState) end(route string, query url.Values, status int, start, end time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight--
	if c.inFlight == 0 {
		c.idle.Broadcast()
	}
	c.byRoute[route]++
	c.byStatus[route+" "+strconv.Itoa(status)]++
	c.byCode[status]++
	if len(c.spans) == maxSpans {
		c.spans = append(c.spans[:0], c.spans[maxSpans/2:]...)
	}
	c.spans = append(c.spans, Span{Route: route, Query: query, Status: status, Start: start, End: end})
}

func (c *counterState) snapshot() Counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Counters{
		ByRoute:       maps.Clone(c.byRoute),
		ByRouteStatus: maps.Clone(c.byStatus),
		ByStatus:      maps.Clone(c.byCode),
		MaxInFlight:   c.maxIn,
		Spans:         append([]Span(nil), c.spans...),
	}
}

var (
	odataKeyRe = regexp.MustCompile(`^(/v\d+/[^/?(]+)\([^)]*\)`)
	numericSeg = regexp.MustCompile(`/\d+(/|$)`)
)

// routeOf normalises a request to a route name: OData keys become "(id)",
// %24count becomes $count, numeric path segments become ":id".
func routeOf(method, rawPath string) string {
	p := strings.ReplaceAll(rawPath, "%24", "$")
	if odataKeyRe.MatchString(p) {
		return method + " " + odataKeyRe.ReplaceAllString(p, "$1(id)")
	}
	for numericSeg.MatchString(p) {
		p = numericSeg.ReplaceAllString(p, "/:id$1")
	}
	return method + " " + p
}
