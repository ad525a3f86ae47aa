package e2e

import (
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/playwright-community/playwright-go"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/caddytest"
	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/internal/redistest"
)

// replica is one portal as the proxy reaches it: on the IPv6 loopback, so
// that the proxy's address (::1) differs from the browser's (127.0.0.1),
// and with a note of what each request carried.
type replica struct {
	env  *portaltest.Env
	url  string
	mu   sync.Mutex
	seen []hop
}

// hop is what one request looked like when it reached a replica.
type hop struct{ peer, forwarded string }

func startReplica(t *testing.T, env *portaltest.Env) *replica {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("the proxy test reaches the replicas on the IPv6 loopback, ::1, so that the proxy's address differs from the browser's: %v", err)
	}
	r := &replica{env: env, url: ln.Addr().String()}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		peer, _, _ := net.SplitHostPort(req.RemoteAddr)
		env.Portal.ServeHTTP(w, req)
		// Noted once served, so that its log line is written by then.
		r.mu.Lock()
		r.seen = append(r.seen, hop{peer: peer, forwarded: req.Header.Get("X-Forwarded-For")})
		r.mu.Unlock()
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return r
}

func (r *replica) hops() []hop {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hop(nil), r.seen...)
}

// Production's shape: Caddy terminates TLS with its internal CA and forwards
// /keyportal/* round robin to two replicas that share a real Redis, with
// Secure cookies and the proxy trusted for X-Forwarded-For. In Chromium at
// https://127.0.0.1:<port>/keyportal/: sign in, filter, create, revoke, with
// requests on both replicas, Secure cookies for /keyportal only, HSTS, the
// browser's address in the portal's log, and no request outside /keyportal/.
func TestBehindCaddyUnderASubPath(t *testing.T) {
	if browser == nil {
		t.Skip("KEYPORTAL_E2E is not set")
	}
	rs := redistest.Start(t)
	_, proxyNet, _ := net.ParseCIDR("::1/128")
	opts := portaltest.Options{SessionStore: rs.URL, BasePath: "/keyportal", Config: func(c *config.Config) {
		c.CookieSecure = true
		c.TrustedProxies = []*net.IPNet{proxyNet}
	}}
	a := portaltest.Start(t, opts)
	opts.ReplicaOf = a
	b := portaltest.Start(t, opts)
	replicas := []*replica{startReplica(t, a), startReplica(t, b)}
	proxy := caddytest.Start(t, `handle /keyportal/* {
		reverse_proxy `+replicas[0].url+` `+replicas[1].url+` {
			lb_policy round_robin
		}
	}
	handle {
		respond "not the portal" 404
	}`)
	base := proxy.URL + "/keyportal"

	page := newPage(t, playwright.BrowserNewContextOptions{IgnoreHttpsErrors: playwright.Bool(true)})
	var mu sync.Mutex
	var requested []string
	page.Context().OnRequest(func(r playwright.Request) {
		mu.Lock()
		defer mu.Unlock()
		requested = append(requested, r.URL())
	})

	// The portal's root under the proxy: to sign-in, over TLS, with HSTS.
	res := goTo(t, page, base+"/")
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`^`+regexp.QuoteMeta(base)+`/signin$`)))
	// A base path shares the host name: HSTS for it, not its subdomains.
	if hsts, _ := res.HeaderValue("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") || strings.Contains(hsts, "includeSubDomains") {
		t.Errorf("the sign-in page over TLS under a base path: Strict-Transport-Security %q, want max-age without includeSubDomains", hsts)
	}

	signIn(t, page, base, balenasim.DemoEmail, balenasim.DemoPassword)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keyportal/keys$`)))
	cookies, err := page.Context().Cookies()
	must(t, err)
	var session *playwright.Cookie
	for i, c := range cookies {
		if c.Path != "/keyportal" || !c.Secure {
			t.Errorf("cookie %s: Path=%s Secure=%v, want Path=/keyportal and Secure", c.Name, c.Path, c.Secure)
		}
		if c.Name == "keyportal_session" {
			session = &cookies[i]
		}
	}
	if session == nil {
		t.Fatalf("no session cookie after sign-in: %+v", cookies)
	}
	if !session.Secure || !session.HttpOnly || session.SameSite == nil || *session.SameSite != *playwright.SameSiteAttributeLax || session.Path != "/keyportal" {
		t.Errorf("session cookie: Secure=%v HttpOnly=%v SameSite=%v Path=%s; want Secure, HttpOnly, Lax, /keyportal",
			session.Secure, session.HttpOnly, session.SameSite, session.Path)
	}

	// Filter in place (htmx), and the address stays under the sub-path.
	must(t, page.GetByRole("checkbox", playwright.PageGetByRoleOptions{Name: "Provisioning", Exact: playwright.Bool(true)}).Check())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keyportal/keys\?.*kind=provisioning`)))
	must(t, expect.Locator(page.Locator("tbody td.kind-cell").First()).ToHaveText("provisioning"))

	// Create a provisioning key: its secret is shown once.
	must(t, page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "Create key"}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keyportal/keys/new`)))
	chooseProvisioningKey(t, page)
	must(t, page.GetByLabel("Name").Fill("behind caddy"))
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Create key"}).Click())
	secretBox := page.GetByLabel("Your new key")
	must(t, expect.Locator(secretBox).ToBeVisible()) // balena has made the key by then
	secret := secretOf(a, "behind caddy")
	if secret == "" {
		t.Fatal("balena has no key named “behind caddy”")
	}
	must(t, expect.Locator(secretBox).ToHaveValue(secret))

	// Revoke it from its row, after the confirmation.
	goTo(t, page, base+"/keys?q=behind+caddy")
	row := page.Locator("tbody tr", playwright.PageLocatorOptions{HasText: "behind caddy"})
	must(t, row.Locator("summary").Click())
	must(t, row.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Revoke…"}).Click())
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Revoke key"}).Click())
	must(t, expect.Locator(page.GetByRole("status")).ToHaveText("Revoked “behind caddy”."))
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keyportal/keys\?`)))
	if secretOf(a, "behind caddy") != "" {
		t.Error("the stand-in still has the revoked key")
	}

	// Every request the browser made was for the portal's sub-path.
	mu.Lock()
	for _, u := range requested {
		if !strings.HasPrefix(u, base+"/") {
			t.Errorf("the browser asked for %s, outside %s/", u, base)
		}
	}
	n := len(requested)
	mu.Unlock()
	if n == 0 {
		t.Fatal("no request was recorded")
	}

	// Both replicas served, each request came from the proxy (::1) naming
	// the browser (127.0.0.1), and the portal logged the browser's address.
	for i, r := range replicas {
		hops := r.hops()
		if len(hops) == 0 {
			t.Errorf("replica %d served no request: round robin sent everything to one", i+1)
		}
		for _, h := range hops {
			if h.peer != "::1" || h.forwarded != "127.0.0.1" {
				t.Errorf("replica %d: a request from %s forwarding %q, want from the proxy (::1) forwarding the browser (127.0.0.1)", i+1, h.peer, h.forwarded)
				break
			}
		}
		logged := 0
		for _, line := range strings.Split(r.env.Logs.String(), "\n") {
			if !strings.Contains(line, " msg=request ") {
				continue
			}
			logged++
			if !strings.Contains(line, " client=127.0.0.1 ") {
				t.Errorf("replica %d logged a request without the browser's address (client=127.0.0.1): %s", i+1, line)
			}
		}
		if logged < len(hops) {
			t.Errorf("replica %d logged %d requests of the %d it served", i+1, logged, len(hops))
		}
	}
	t.Logf("%d browser requests through Caddy; replicas served %d and %d", n, len(replicas[0].hops()), len(replicas[1].hops()))
}
