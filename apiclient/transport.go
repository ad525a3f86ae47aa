package apiclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/encoding/json"
	"golang.org/x/sync/errgroup"
)

// maxBody caps what is read of any answer. A 1000-row page with owners
// expanded is well under 1 MiB.
const maxBody = 8 << 20

// maxAttempts bounds retries of a GET, on top of the call's deadline.
const maxAttempts = 4

// request is one HTTP exchange with balena.
type request struct {
	op     string // for errors, e.g. "list keys"
	method string
	path   string // e.g. "/v7/api_key(5)"
	query  string // raw, already encoded
	body   any    // sent as JSON when not nil
	token  string // "" for anonymous calls
}

// withTimeout bounds a whole public call, retries and sub-requests included.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// do sends r and returns the body of its 2xx answer or an *Error. GETs
// are retried on 429, 502, 503, 504 and broken connections while the
// deadline allows; writes never are, as balena may have applied them.
func (c *Client) do(ctx context.Context, r request) ([]byte, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		body, retryable, err := c.once(ctx, r)
		if err == nil {
			return body, nil
		}
		if r.method != http.MethodGet || !retryable || attempt == maxAttempts || err.Code == CodeTimeout {
			return nil, err
		}
		wait := c.backoff(attempt)
		if err.Code == CodeRateLimited && err.RetryAfter > 0 {
			wait = err.RetryAfter
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return nil, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, contextError(r.op, ctx.Err())
		case <-t.C:
		}
	}
}

// backoff is exponential with jitter, so that many portal replicas that
// hit the same 503 do not come back in step.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.retryBase << (attempt - 1)
	return d/2 + rand.N(d/2+1)
}

// once makes one attempt. retryable says whether the failure is of a kind
// that a repeat of an idempotent request may cure.
func (c *Client) once(ctx context.Context, r request) (body []byte, retryable bool, err *Error) {
	var payload io.Reader
	if r.body != nil {
		b, jerr := json.Marshal(r.body)
		if jerr != nil {
			return nil, false, &Error{Op: r.op, Code: CodeInvalid, Err: jerr}
		}
		payload = bytes.NewReader(b)
	}
	if !headerSafe(r.token) {
		// Go would refuse to send it; balena never sees it.
		return nil, false, &Error{Op: r.op, Code: CodeBadToken, Message: "the token holds characters that cannot be sent"}
	}
	u := c.base + r.path
	if r.query != "" {
		u += "?" + r.query
	}
	req, rerr := http.NewRequestWithContext(ctx, r.method, u, payload)
	if rerr != nil {
		return nil, false, &Error{Op: r.op, Code: CodeInvalid, Message: "bad request URL", Err: rerr}
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}

	start := time.Now()
	resp, herr := c.http.Do(req)
	if herr != nil {
		c.observed(r, 0, start)
		return nil, true, transportError(ctx, r.op, herr)
	}
	defer c.observed(r, resp.StatusCode, start)
	defer drainClose(resp.Body)
	body, herr = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if herr != nil {
		// A 2xx to PATCH or DELETE is success whatever its body: balena
		// has applied the change, and that body is never read.
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 && (r.method == http.MethodPatch || r.method == http.MethodDelete) {
			return nil, false, nil
		}
		return nil, true, transportError(ctx, r.op, herr)
	}
	if len(body) > maxBody {
		return nil, false, upstreamError(r.op, "response too large", nil)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return body, false, nil
	}
	err = statusError(r.op, resp.StatusCode, resp.Header, body)
	err.Message = redact(err.Message, r.token)
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return nil, true, err
	}
	return nil, false, err
}

// observed reports one exchange to Options.Observe.
func (c *Client) observed(r request, code int, start time.Time) {
	if c.observe != nil {
		c.observe(Endpoint(r.method, r.path), code, time.Since(start))
	}
}

var (
	keyInParens = regexp.MustCompile(`\([^)]*\)`)
	numSegment  = regexp.MustCompile(`/[0-9]+(/|$)`)
)

// Endpoint is a request's route as a template: ids in parentheses become
// (id) and numeric path segments :id, so that it never carries an id, a
// name or a query, e.g. "GET /v7/api_key(id)".
func Endpoint(method, path string) string {
	path = keyInParens.ReplaceAllString(path, "(id)")
	for numSegment.MatchString(path) {
		path = numSegment.ReplaceAllString(path, "/:id$1")
	}
	return method + " " + path
}

// drainClose lets the connection go back to the pool: Go reuses it only
// if the body was read to the end.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

func transportError(ctx context.Context, op string, err error) *Error {
	if ctx.Err() != nil {
		return contextError(op, ctx.Err())
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return contextError(op, err)
	}
	// url.Error repeats the URL, search text and all; the cause is enough.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if why := unreachable(err); why != "" {
		return &Error{Op: op, Code: CodeUnreachable, Message: why, Err: err}
	}
	return upstreamError(op, "connection failed", err)
}

// unreachable says why no connection to balena could be made (so nothing
// was sent), or "" when the failure came later, on a connection that was
// made: then balena may have received the request.
func unreachable(err error) string {
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.As(err, &dns):
		return "its host name could not be resolved"
	case !errors.As(err, &op) || op.Op != "dial":
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the connection was refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "there is no route to it"
	}
	return "no connection could be made"
}

// headerSafe reports whether token can go in an Authorization header:
// no control characters but tab (Go's own rule, httpguts.ValidHeaderFieldValue).
func headerSafe(token string) bool {
	for i := range len(token) {
		if b := token[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// redact keeps a token out of a message that echoes the request back
// (pine's "Malformed url: '…'" does, and a URL may carry ?apikey=).
func redact(msg, token string) string {
	if token == "" || msg == "" {
		return msg
	}
	return strings.ReplaceAll(msg, token, "[redacted]")
}

// decodeJSON reads a 2xx body into v; anything unreadable is balena's
// fault, not the caller's.
func decodeJSON(op string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return upstreamError(op, "unreadable response", err)
	}
	return nil
}

// get sends a GET as the session's caller and decodes the JSON answer.
func (s *Session) get(ctx context.Context, op, path, query string, v any) error {
	body, err := s.read(ctx, op, path, query)
	if err != nil {
		return err
	}
	return decodeJSON(op, body, v)
}

// read sends a GET as the session's caller and returns the answer's body.
func (s *Session) read(ctx context.Context, op, path, query string) ([]byte, error) {
	return s.c.do(ctx, request{op: op, method: http.MethodGet, path: path, query: query, token: s.token})
}

// getRows reads an OData collection, {"d": [...]}.
func getRows[T any](ctx context.Context, s *Session, op, path string, o odata) ([]T, error) {
	return getRowsInto[T](ctx, s, op, path, o, nil)
}

// getRowsInto is getRows decoding into seed's backing array (see
// seedExpandedRows); nil seeds nothing.
func getRowsInto[T any](ctx context.Context, s *Session, op, path string, o odata, seed []T) ([]T, error) {
	body, err := s.read(ctx, op, path, o.encode())
	if err != nil {
		return nil, err
	}
	return decodeRows(op, body, seed)
}

// decodeRows reads an OData collection's body. With a seed, the decoder
// fills the seed's elements in place, as far as they go, keeping what
// they point to.
func decodeRows[T any](op string, body []byte, seed []T) ([]T, error) {
	var env struct {
		D *[]T `json:"d"`
	}
	if seed != nil {
		seed = seed[:0]
		env.D = &seed
	}
	if err := decodeJSON(op, body, &env); err != nil {
		return nil, err
	}
	if env.D != nil && seed != nil && len(*env.D) == 0 {
		// "d": [] and no "d" at all both leave a seed empty; tell them
		// apart (an empty answer is short to read twice).
		var probe struct {
			D json.RawMessage `json:"d"`
		}
		if err := decodeJSON(op, body, &probe); err != nil || probe.D == nil {
			env.D = nil
		}
	}
	if env.D == nil {
		return nil, upstreamError(op, "response without d", nil)
	}
	return *env.D, nil
}

// decodeToken reads a token or key that balena answers either as
// text/plain (login, refresh) or as a JSON string (key creation).
func decodeToken(op string, body []byte) (string, error) {
	body = bytes.TrimSpace(body)
	s := string(body)
	if len(body) > 0 && body[0] == '"' {
		if err := json.Unmarshal(body, &s); err != nil {
			return "", upstreamError(op, "unreadable response", err)
		}
	}
	if s == "" || strings.ContainsAny(s, " \t\r\n\"<>{}") {
		return "", upstreamError(op, "unreadable response", nil)
	}
	return s, nil
}

// parallel runs fns at once and returns the first error; the others see
// their context cancelled as soon as one fails.
func parallel(ctx context.Context, fns ...func(context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, fn := range fns {
		g.Go(func() error { return fn(ctx) })
	}
	return g.Wait()
}
