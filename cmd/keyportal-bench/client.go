package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/views"
)

// transport is shared by every simulated browser (each real browser would
// keep its own connections; sharing them only saves the bench some dials).
// It never decompresses, so that bytes read are bytes on the wire.
var transport = &http.Transport{
	MaxIdleConns:        512,
	MaxIdleConnsPerHost: 512,
	IdleConnTimeout:     time.Minute,
	DisableCompression:  true,
}

// browser is one signed-in portal session: its own cookies.
type browser struct {
	base string
	http *http.Client
}

// response is what the bench keeps of an answer.
type response struct {
	status   int
	header   http.Header
	body     []byte // as sent: gzip when the portal compressed it
	wire     int    // body plus status line and headers, as on the wire
	duration time.Duration
}

var csrfField = regexp.MustCompile(`id="signin-password"><input type="hidden" name="` + views.CSRFField + `" value="([^"]+)"`)

// signIn opens the sign-in page and signs in with the password form, as a
// browser does.
func signIn(ctx context.Context, base string) (*browser, error) {
	jar, _ := cookiejar.New(nil)
	b := &browser{base: base, http: &http.Client{
		Transport: transport, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	r, err := b.get(ctx, "/signin", false, false)
	if err != nil {
		return nil, err
	}
	m := csrfField.FindSubmatch(r.body)
	if m == nil {
		return nil, fmt.Errorf("sign-in page without a CSRF token (status %d)", r.status)
	}
	form := url.Values{views.CSRFField: {string(m[1])}, "method": {"password"},
		"email": {balenasim.DemoEmail}, "password": {balenasim.DemoPassword}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := b.http.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/keys" {
		return nil, fmt.Errorf("sign-in: %s to %q", res.Status, res.Header.Get("Location"))
	}
	return b, nil
}

// get fetches path (a path or an absolute URL), as htmx does when hx is set;
// gzip asks for a compressed answer, as every browser does.
func (b *browser) get(ctx context.Context, path string, hx, gzip bool) (response, error) {
	if !strings.HasPrefix(path, "http") {
		path = b.base + path
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	if hx {
		req.Header.Set("HX-Request", "true")
		req.Header.Set("HX-Current-URL", b.base+"/keys")
	}
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	start := time.Now()
	res, err := b.http.Do(req)
	if err != nil {
		return response{}, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	r := response{status: res.StatusCode, header: res.Header, body: body, duration: time.Since(start)}
	if err != nil {
		return r, err
	}
	r.wire = len(body) + len(res.Proto) + len(res.Status) + 4 // "HTTP/1.1 200 OK\r\n"
	for k, vs := range res.Header {
		for _, v := range vs {
			r.wire += len(k) + len(v) + 4
		}
	}
	r.wire += 2
	return r, nil
}

// page fetches a keys view and insists on 200.
func (b *browser) page(ctx context.Context, path string, hx bool) (response, error) {
	r, err := b.get(ctx, path, hx, true)
	if err == nil && r.status != http.StatusOK {
		err = fmt.Errorf("GET %s (htmx=%v): status %d", path, hx, r.status)
	}
	return r, err
}

// direct is the baseline: the same view asked of balena with apiclient
// alone, the way the portal asks it (a fresh Session per view, the identity
// known from sign-in).
type direct struct {
	client *apiclient.Client
	token  string
	id     apiclient.Identity
}

func newDirect(ctx context.Context, simURL string) (*direct, error) {
	c, err := apiclient.New(apiclient.Options{BaseURL: simURL})
	if err != nil {
		return nil, err
	}
	tok, err := c.Login(ctx, balenasim.DemoEmail, balenasim.DemoPassword)
	if err != nil {
		return nil, err
	}
	id, err := c.As(tok).WhoAmI(ctx)
	if err != nil {
		return nil, err
	}
	return &direct{client: c, token: tok, id: id}, nil
}

func (d *direct) list(ctx context.Context, q apiclient.KeyQuery) (apiclient.KeyPage, time.Duration, error) {
	start := time.Now()
	p, err := d.client.As(d.token).WithIdentity(d.id).ListKeys(ctx, q)
	return p, time.Since(start), err
}

// view is one keys view: its URL query and the same view as a KeyQuery,
// written out by hand from the portal's defaults (50 per page, newest
// first, "expiring" within 7 days).
type view struct {
	name  string
	query string // after /keys?
	q     apiclient.KeyQuery
}

func (v view) path() string {
	if v.query == "" {
		return "/keys"
	}
	return "/keys?" + v.query
}

// keyQuery fills the portal's defaults into q.
func keyQuery(q apiclient.KeyQuery, perPage, page int) apiclient.KeyQuery {
	if q.Sort == "" {
		q.Sort, q.Desc = apiclient.SortCreatedAt, true
	}
	if q.WithinDays == 0 {
		q.WithinDays = 7
	}
	q.Top, q.Skip = perPage, (page-1)*perPage
	return q
}

// the filtered view of sections 1, 3 and 4: the signed-in user's active
// keys by name, 50 rows of about 300.
var mainView = view{
	name:  "own active user keys by name",
	query: "kind=user&status=active&sort=name",
	q: keyQuery(apiclient.KeyQuery{Kinds: []apiclient.KeyKind{apiclient.KindUser},
		Status: apiclient.StatusActive, Sort: apiclient.SortName}, 50, 1),
}

func must(err error) {
	if err != nil {
		panic(benchError{err})
	}
}

// benchError carries a failure out of a phase to main, which stops the
// children and exits non-zero.
type benchError struct{ error }

func isContextErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
