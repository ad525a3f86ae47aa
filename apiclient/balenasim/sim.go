package balenasim

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Profile picks which deployment the stand-in imitates where they differ.
type Profile string

const (
	// ProfileBalenaCloud: users read actor (so is_of__actor/any(...) filters
	// work) and see their own keys plus the provisioning and device keys of
	// the fleets they manage; the secret is never readable.
	ProfileBalenaCloud Profile = "balenacloud"
	// ProfileOpenBalena: users see only their own keys, cannot read actor
	// (401), and listings include the plaintext key (section 10).
	ProfileOpenBalena Profile = "openbalena"
)

// Well-known credentials of the seeded datasets.
const (
	DemoEmail      = "admin@example.com"
	DemoUsername   = "admin"
	DemoPassword   = "demo-password"
	Demo2FAEmail   = "2fa@example.com"
	Demo2FASecret  = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	DemoOtherEmail = "bob@example.com"
)

// Options configure a Sim. The zero value is the demo dataset on the
// balenaCloud profile with the real clock.
type Options struct {
	Profile Profile          // default ProfileBalenaCloud
	Dataset string           // "demo" (default), "large" or "empty"
	Now     func() time.Time // the sim's clock for expiry, JWTs and freshness; default time.Now
	Logger  *slog.Logger     // optional; never given tokens, passwords or keys

	// Failed logins allowed per client address and username within
	// LoginWindow before /login_ answers 429 for LoginBlock. Defaults are
	// open-balena's: 10, 2 hours, 1 hour.
	LoginMaxAttempts int
	LoginWindow      time.Duration
	LoginBlock       time.Duration

	TokenLifetime time.Duration // session JWT lifetime; default 7 days
	MaxBodyBytes  int64         // request body cap; default 1 MiB, larger bodies get 413
	Faults        Faults        // initial fault injection; see SetFaults
}

// FreshAuthWindow is how recently the password must have been entered
// (JWT authTime) to create a named user key.
const FreshAuthWindow = 20 * time.Minute

// Sim is the stand-in balena API. It is an http.Handler and safe for
// concurrent use.
type Sim struct {
	opts     Options
	profile  Profile
	log      *slog.Logger
	jwtKey   []byte
	schema   *schema
	throttle *throttle
	faults   faultState
	counters *counterState

	rvMu sync.Mutex
	rv   *Rendezvous

	mu sync.RWMutex
	st *store
}

// New builds a Sim and seeds its dataset.
func New(opts Options) (*Sim, error) {
	if opts.Profile == "" {
		opts.Profile = ProfileBalenaCloud
	}
	if opts.Profile != ProfileBalenaCloud && opts.Profile != ProfileOpenBalena {
		return nil, fmt.Errorf("balenasim: unknown profile %q", opts.Profile)
	}
	if opts.Dataset == "" {
		opts.Dataset = "demo"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LoginMaxAttempts <= 0 {
		opts.LoginMaxAttempts = 10
	}
	if opts.LoginWindow <= 0 {
		opts.LoginWindow = 2 * time.Hour
	}
	if opts.LoginBlock <= 0 {
		opts.LoginBlock = time.Hour
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = 7 * 24 * time.Hour
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	s := &Sim{
		opts:     opts,
		profile:  opts.Profile,
		log:      opts.Logger,
		jwtKey:   make([]byte, 32),
		schema:   newSchema(opts.Profile),
		counters: newCounterState(),
		throttle: &throttle{max: opts.LoginMaxAttempts, window: opts.LoginWindow, block: opts.LoginBlock, entries: map[string]*throttleEntry{}},
	}
	_, _ = rand.Read(s.jwtKey)
	st, err := seed(opts.Dataset, opts.Now().UTC())
	if err != nil {
		return nil, err
	}
	s.st = st
	s.faults.set(opts.Faults)
	return s, nil
}

func (s *Sim) now() time.Time { return s.opts.Now().UTC() }

// Profile reports the deployment the Sim imitates.
func (s *Sim) Profile() Profile { return s.profile }

// Counters returns a snapshot of the request counters.
func (s *Sim) Counters() Counters { return s.counters.snapshot() }

// ResetCounters zeroes the counters. It first waits, up to a second, for
// requests in flight to end, so that one whose answer the client already
// has is not counted after the reset; a request held longer (latency, a
// rendezvous) is still counted when it ends.
func (s *Sim) ResetCounters() { s.counters.reset() }

// ServeHTTP answers one request, after any injected fault.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rawURL := r.RequestURI
	if rawURL == "" {
		rawURL = r.URL.RequestURI()
	}
	rawPath, _, _ := strings.Cut(rawURL, "?")
	route := routeOf(r.Method, rawPath)
	start := time.Now()
	s.counters.begin()
	status := 0
	defer func() { s.counters.end(route, r.URL.Query(), status, start, time.Now()) }()
	s.hold(r.Context(), route)

	f, kind, code := s.faults.draw(route, r.Method+" "+rawPath)
	// On a write, a slow, cut-short, garbled or reset answer comes after
	// the write was applied, as when a proxy or the network loses balena's
	// answer; an error or a 429 comes before it, and nothing is applied.
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	var b *buffered
	if write && kind != faultError && kind != faultRateLimit {
		b = &buffered{header: http.Header{}}
		s.route(b, r, rawURL)
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	switch kind {
	case faultReset:
		resetConnection(w)
		return
	case faultError:
		status = code
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>", code, http.StatusText(code))
		return
	case faultRateLimit:
		status = http.StatusTooManyRequests
		ra := f.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		w.Header().Set("Retry-After", fmt.Sprint(int((ra+time.Second-1)/time.Second)))
		writeJSONString(w, status, "Too Many Requests")
		return
	}

	if b == nil {
		b = &buffered{header: http.Header{}}
		s.route(b, r, rawURL)
	}
	status = b.status
	if status == 0 {
		status = http.StatusOK
	}
	b.flush(w, kind)
	s.log.Debug("balenasim", "route", route, "status", status)
}

func (s *Sim) route(w http.ResponseWriter, r *http.Request, rawURL string) {
	path, _, _ := strings.Cut(rawURL, "?")
	if r.Body != nil {
		r.Body = http.MaxBytesReader(nil, r.Body, s.opts.MaxBodyBytes)
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		// open-balena's CORS settings, so browser clients work too.
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Methods", "GET, PUT, POST, PATCH, DELETE, OPTIONS, HEAD")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, Application-Record-Count, MaxDataServiceVersion, X-Requested-With, X-Balena-Client")
		h.Set("Access-Control-Expose-Headers", "Retry-After")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	switch {
	case path == "/ping":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "OK")
	case path == "/login_" && r.Method == http.MethodPost:
		s.login(w, r)
	case path == "/auth/totp/verify" && r.Method == http.MethodPost:
		s.totpVerify(w, r)
	case path == "/actor/v1/whoami" && r.Method == http.MethodGet:
		s.actorWhoami(w, r)
	case path == "/user/v1/whoami" && r.Method == http.MethodGet:
		s.userWhoami(w, r)
	case path == "/user/v1/refresh-token" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		s.refreshToken(w, r)
	case strings.HasPrefix(path, "/api-key/") || strings.HasPrefix(path, "/application/"):
		s.createKeyRoute(w, r, path)
	default:
		version, rest, ok := splitVersion(rawURL)
		switch {
		case !ok:
			w.WriteHeader(http.StatusNotFound)
		case version != "v7" && version != "v6":
			// Unknown API versions are not routed at all.
			w.WriteHeader(http.StatusNotFound)
		default:
			s.serveOData(w, r, version, rest, rawURL)
		}
	}
}

// splitVersion splits "/v7/api_key?…" into "v7" and "/api_key?…".
func splitVersion(rawURL string) (string, string, bool) {
	if !strings.HasPrefix(rawURL, "/v") {
		return "", "", false
	}
	i := strings.IndexAny(rawURL[1:], "/?")
	if i < 0 || rawURL[1+i] != '/' {
		return "", "", false
	}
	v := rawURL[1 : 1+i]
	for _, c := range v[1:] {
		if c < '0' || c > '9' {
			return "", "", false
		}
	}
	return v, rawURL[1+i:], len(v) > 1
}

// writeJSONString answers with balena's usual error body: a JSON string.
func writeJSONString(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(appendJSONString(nil, msg))
}

// writeEmpty answers with a status and no body, as pinejs does for 401 and
// translation errors.
func writeEmpty(w http.ResponseWriter, status int) { w.WriteHeader(status) }

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	b, _ := json.Marshal(v)
	_, _ = w.Write(b)
}

var errTooLarge = errors.New("body too large")

// readBody reads a capped request body.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errTooLarge
	}
	return b, err
}

// clientIP is the address part of RemoteAddr, for login throttling.
func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return host
}
