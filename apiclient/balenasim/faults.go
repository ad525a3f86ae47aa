package balenasim

import (
	"bytes"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults make the stand-in misbehave the way a real API behind a proxy
// does, for tests of retries, timeouts and error pages. Rates are shares of
// requests in [0,1]; one draw per request picks at most one of them. The
// zero value injects nothing.
type Faults struct {
	Latency       time.Duration // added before every answer
	ErrorRate     float64       // 500, 502 or 503
	RateLimitRate float64       // 429 "Too Many Requests" with Retry-After
	ResetRate     float64       // the connection is closed without an answer
	TruncateRate  float64       // the body stops halfway (Content-Length says more)
	GarbageRate   float64       // the body is an HTML page instead of JSON
	RetryAfter    time.Duration // for injected 429s; default 1s
	Seed          int64         // for the draws; the same seed gives the same sequence
	// Routes limits faults to these routes, each either a normalised
	// route (see Counters) or "METHOD /path" matched as a prefix of the
	// request's method and path, such as "DELETE /v7/api_key"; empty
	// means every route.
	Routes []string
	// Skip lets the first Skip requests that the faults would reach pass
	// untouched, to fail a later step of a sequence (a check after a write).
	Skip int
}

type faultKind uint8

const (
	faultNone faultKind = iota
	faultError
	faultRateLimit
	faultReset
	faultTruncate
	faultGarbage
)

type faultState struct {
	mu      sync.Mutex
	f       Faults
	rng     *rand.Rand
	skipped int
}

func (fs *faultState) set(f Faults) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.f, fs.skipped = f, 0
	fs.rng = rand.New(rand.NewPCG(uint64(f.Seed), 0x9e3779b97f4a7c15))
}

// draw decides the fault for one request (its normalised route, and its
// method and path as sent); status is the 5xx to use.
func (fs *faultState) draw(route, methodPath string) (f Faults, kind faultKind, status int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f = fs.f
	if len(f.Routes) > 0 && !slices.ContainsFunc(f.Routes, func(r string) bool {
		return r == route || strings.HasPrefix(methodPath, r)
	}) {
		return Faults{}, faultNone, 0
	}
	if fs.skipped < f.Skip {
		fs.skipped++
		return Faults{}, faultNone, 0
	}
	if fs.rng == nil {
		return f, faultNone, 0
	}
	u := fs.rng.Float64()
	for _, c := range []struct {
		rate float64
		kind faultKind
	}{
		{f.ErrorRate, faultError}, {f.RateLimitRate, faultRateLimit}, {f.ResetRate, faultReset},
		{f.TruncateRate, faultTruncate}, {f.GarbageRate, faultGarbage},
	} {
		if u < c.rate {
			kind = c.kind
			break
		}
		u -= c.rate
	}
	if kind == faultError {
		status = []int{500, 502, 503}[fs.rng.IntN(3)]
	}
	return f, kind, status
}

// SetFaults replaces the fault settings; the zero Faults turns them off.
func (s *Sim) SetFaults(f Faults) { s.faults.set(f) }

// buffered collects a handler's answer so that faults can mangle it.
type buffered struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *buffered) Header() http.Header { return b.header }
func (b *buffered) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *buffered) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

// flush sends the buffered answer, truncated or replaced if asked.
func (b *buffered) flush(w http.ResponseWriter, kind faultKind) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	h := w.Header()
	for k, v := range b.header {
		h[k] = v
	}
	body := b.body.Bytes()
	switch kind {
	case faultGarbage:
		body = []byte("<html><head><title>Bad Gateway</title></head><body><h1>upstream hiccup</h1></body></html>")
		h.Set("Content-Type", "text/html; charset=utf-8")
	case faultTruncate:
		h.Set("Content-Length", strconv.Itoa(len(body)+1))
		body = body[:len(body)/2]
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(body)
}

// resetConnection drops the connection without an answer; where hijacking
// is impossible (HTTP/2, recorders) it aborts the handler instead.
func resetConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tcp, ok := conn.(*net.TCPConn); ok {
				_ = tcp.SetLinger(0) // RST rather than FIN
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
