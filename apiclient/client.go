package apiclient

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Version goes into the User-Agent; the build sets it with -ldflags.
var Version = "dev"

// DefaultTimeout bounds every call, retries included, unless Options.Timeout
// says otherwise.
const DefaultTimeout = 10 * time.Second

// Options configure a Client. BaseURL is required.
type Options struct {
	BaseURL    string        // e.g. https://api.balena-cloud.com
	Timeout    time.Duration // per call, retries included; default 10s
	UserAgent  string        // default "keyportal/<version>"
	HTTPClient *http.Client  // default: a tuned, reused client
	// Observe, if set, hears of every HTTP exchange with balena: its
	// endpoint as a template without ids, names or query (e.g.
	// "GET /v7/api_key(id)"), its status (0 when no answer came) and how
	// long it took. Metrics hang on it; apiclient itself stays free of them.
	Observe func(endpoint string, code int, d time.Duration)
}

// Client is safe for concurrent use and meant to be shared.
type Client struct {
	base      string // scheme://host[/prefix], no trailing slash
	http      *http.Client
	timeout   time.Duration
	userAgent string
	observe   func(endpoint string, code int, d time.Duration)

	// actorAccess caches whether this deployment lets users read actor,
	// which decides how owners and kind filters are asked for (see
	// owners.go). It is learnt from the first list and kept.
	actorAccess atomic.Int32

	// retryBase is the first backoff step; tests shorten it.
	retryBase time.Duration
}

const (
	actorUnknown int32 = iota
	actorReadable
	actorHidden
)

// New validates opts and returns a Client.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("apiclient: BaseURL %q must be an http(s) URL without query, fragment or credentials", opts.BaseURL)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("apiclient: negative Timeout %v", opts.Timeout)
	}
	c := &Client{
		base:      u.String(),
		http:      opts.HTTPClient,
		timeout:   opts.Timeout,
		userAgent: opts.UserAgent,
		observe:   opts.Observe,
		retryBase: 100 * time.Millisecond,
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.userAgent == "" {
		c.userAgent = "keyportal/" + Version
	}
	if c.http == nil {
		c.http = &http.Client{Transport: newTransport()}
	}
	return c, nil
}

// newTransport is tuned for many small requests to one host: the portal
// makes two or three calls per page view and should never redial for them.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// As returns a Session that calls balena with token.
func (c *Client) As(token string) *Session { return &Session{c: c, token: token} }

// Session is a Client bound to one caller's token. It is cheap: make one
// per request. It remembers the caller's Identity once it has learnt it.
type Session struct {
	c     *Client
	token string

	mu    sync.Mutex
	ident *Identity
	// reads, when set, are the reads shared by the parallel calls of one
	// page (see Shared).
	reads  *sharedReads
	parent *Session // the Session it was made from, which learns its Identity too
}

// Shared returns a Session for one burst of parallel reads, such as one
// page or one refresh: where a key's actor cannot be read, every count by
// kind needs the caller's fleets, and every count of silent devices' keys
// those devices; each is read from balena at most once for the life of
// this Session instead of once per count. Make a new one per burst: what
// it read is never refreshed.
func (s *Session) Shared() *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &Session{c: s.c, token: s.token, ident: s.ident, reads: &sharedReads{byKey: map[string]*sharedRead{}}, parent: s}
}

// sharedReads are the reads of one Shared Session, by what they asked.
type sharedReads struct {
	mu    sync.Mutex
	byKey map[string]*sharedRead
}

// sharedRead is one read, its error included: the calls sharing it belong
// to one request, which would not fare better asking again. done is closed
// once val and err are set.
type sharedRead struct {
	done chan struct{}
	val  any
	err  error
}

// readOnce returns what read returns, calling it only once per key on a
// Shared Session (and every time on any other). The read is the Session's,
// not its first caller's: it runs apart from that caller's cancellation
// (a sibling's failure cancelling it, say), bounded by the client's own
// timeout, so the callers still waiting get its answer rather than that
// caller's end; a caller whose context ends stops waiting.
func readOnce[T any](ctx context.Context, s *Session, key string, read func(context.Context) (T, error)) (T, error) {
	if s.reads == nil {
		return read(ctx)
	}
	s.reads.mu.Lock()
	r, ok := s.reads.byKey[key]
	if !ok {
		r = &sharedRead{done: make(chan struct{})}
		s.reads.byKey[key] = r
		go func() {
			defer close(r.done)
			r.val, r.err = read(context.WithoutCancel(ctx))
		}()
	}
	s.reads.mu.Unlock()
	select {
	case <-r.done:
		v, _ := r.val.(T)
		return v, r.err
	case <-ctx.Done():
		var zero T
		return zero, contextError("shared read", ctx.Err())
	}
}

// WithIdentity returns a Session that already knows who its caller is, so
// that calls needing the caller's actor skip /actor/v1/whoami. id must be
// what WhoAmI returned for the same token.
func (s *Session) WithIdentity(id Identity) *Session {
	return &Session{c: s.c, token: s.token, ident: &id}
}

// identity returns the caller's Identity, asking balena only the first time.
func (s *Session) identity(ctx context.Context) (Identity, error) {
	s.mu.Lock()
	cached := s.ident
	s.mu.Unlock()
	if cached != nil {
		return *cached, nil
	}
	return readOnce(ctx, s, "whoami", s.WhoAmI)
}

func (s *Session) remember(id Identity) {
	s.mu.Lock()
	s.ident = &id
	s.mu.Unlock()
	if s.parent != nil {
		s.parent.remember(id)
	}
}
