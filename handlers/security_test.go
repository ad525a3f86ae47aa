package handlers_test

import (
	"html"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

// Every state-changing route, present and future, refuses a request
// without the CSRF token (or with a wrong one, or from another site) with
// a 403, before balena hears of it.
func TestEveryStateChangingRouteNeedsTheCSRFToken(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	keysPage := b.get("/keys")
	token := keysPage.doc.Find("form[action='/signout'] input[name=_csrf]").AttrOr("value", "")
	if token == "" {
		t.Fatal("no CSRF token on the keys page")
	}
	var checked []string
	for _, r := range handlers.RoutesOf(env.Portal) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			continue
		}
		path := r.Path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "1", 1)
			}
		}
		checked = append(checked, r.Method+" "+r.Path)
		for name, header := range map[string][]string{
			"no token":         nil,
			"a wrong token":    {"X-CSRF-Token", "not-" + token},
			"a cross-site one": {"X-CSRF-Token", token, "Sec-Fetch-Site", "cross-site"},
		} {
			env.Sim.ResetCounters()
			req, _ := http.NewRequest(r.Method, env.URL+path, strings.NewReader("name=x&email="+url.QueryEscape(balenasim.DemoEmail)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for i := 0; i+1 < len(header); i += 2 {
				req.Header.Set(header[i], header[i+1])
			}
			p := b.do(req)
			if p.status != http.StatusForbidden || !strings.Contains(p.doc.Find(".flash, p").Text(), "This form has expired") {
				t.Errorf("%s %s with %s: status %d, want 403 with a message", r.Method, path, name, p.status)
			}
			if n := env.Sim.Counters().Total(); n != 0 {
				t.Errorf("%s %s with %s: balena got %d calls", r.Method, path, name, n)
			}
		}
	}
	for _, want := range []string{"POST /signin", "POST /signin/code", "POST /signout"} {
		if !strings.Contains(strings.Join(checked, ","), want) {
			t.Errorf("%s was not among the routes checked: %v", want, checked)
		}
	}
	// Still signed in: the refused sign-out did nothing.
	if p := b.get("/keys"); p.status != http.StatusOK || !strings.HasSuffix(p.url, "/keys") {
		t.Errorf("after refused POSTs: %s %d", p.url, p.status)
	}
}

// flagJar is a browser's cookie jar that also records every cookie the
// portal set, with its flags. It keeps Secure cookies over plain HTTP (the
// test server has no TLS; a TLS proxy would stand in front in production).
type flagJar struct {
	mu   sync.Mutex
	jar  map[string]*http.Cookie
	seen []*http.Cookie
}

func (j *flagJar) SetCookies(_ *url.URL, cookies []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cookies {
		j.seen = append(j.seen, c)
		if c.MaxAge < 0 || c.Value == "" {
			delete(j.jar, c.Name)
		} else {
			j.jar[c.Name] = c
		}
	}
}

func (j *flagJar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for _, c := range j.jar {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return out
}

// With KEYPORTAL_COOKIE_SECURE, every page (sign-in, the 2FA step, keys,
// failures, refusals, static files, probes) carries the security headers,
// and every cookie is Secure, HttpOnly, SameSite=Lax and host-wide.
func TestHeadersAndCookieFlagsOnEveryPage(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Config: func(c *config.Config) { c.CookieSecure = true }})
	jar := &flagJar{jar: map[string]*http.Cookie{}}
	b := &browser{t: t, env: env, http: &http.Client{Jar: jar}}

	var pages []page
	visit := func(p page) page { pages = append(pages, p); return p }
	signin := visit(b.get("/signin"))
	visit(b.submit(signin, "#signin-password", map[string]string{"email": balenasim.DemoEmail, "password": "wrong"}))
	visit(b.post("/signin", url.Values{"email": {balenasim.DemoEmail}})) // no token: 403
	code := visit(b.submit(visit(b.get("/signin")), "#signin-password", map[string]string{"email": balenasim.Demo2FAEmail, "password": balenasim.DemoPassword}))
	if !strings.HasSuffix(code.url, "/signin/code") {
		t.Fatalf("2FA sign-in ended at %s", code.url)
	}
	visit(b.submit(code, "form", map[string]string{"code": "12"}))
	keys := visit(b.submit(b.get("/signin"), "#signin-password", map[string]string{"email": balenasim.DemoEmail, "password": balenasim.DemoPassword}))
	if !strings.HasSuffix(keys.url, "/keys") {
		t.Fatalf("sign-in ended at %s %d", keys.url, keys.status)
	}
	visit(b.get("/keys?status=bogus"))
	visit(b.get("/keys", "HX-Request", "true"))
	visit(b.get("/nope"))
	visit(b.get("/healthz"))
	visit(b.get(keys.doc.Find("link[rel=stylesheet]").AttrOr("href", "/static/missing")))
	visit(b.submit(keys, "form[action='/signout']", nil))

	for _, p := range pages {
		h := p.header
		for name, want := range map[string]string{
			"Content-Security-Policy":   "frame-ancestors 'none'",
			"X-Content-Type-Options":    "nosniff",
			"Referrer-Policy":           "no-referrer",
			"X-Frame-Options":           "DENY",
			"Permissions-Policy":        "camera=()",
			"Strict-Transport-Security": "max-age=63072000; includeSubDomains", // the host is the portal's
		} {
			if !strings.Contains(h.Get(name), want) {
				t.Errorf("%s (%d): %s = %q, want %q in it", p.url, p.status, name, h.Get(name), want)
			}
		}
		if strings.Contains(h.Get("Content-Security-Policy"), "unsafe-") {
			t.Errorf("%s: the CSP allows unsafe code", p.url)
		}
		isPage := strings.HasPrefix(h.Get("Content-Type"), "text/html")
		if isPage && (strings.Contains(p.url, "/signin") || strings.Contains(p.url, "/keys")) && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s (%d): Cache-Control = %q, want no-store", p.url, p.status, h.Get("Cache-Control"))
		}
	}
	names := map[string]bool{}
	for _, c := range jar.seen {
		names[c.Name] = true
		if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
			t.Errorf("cookie %s: Secure=%v HttpOnly=%v SameSite=%v Path=%q Domain=%q", c.Name, c.Secure, c.HttpOnly, c.SameSite, c.Path, c.Domain)
		}
	}
	if !names["keyportal_session"] || !names["keyportal_csrf"] {
		t.Errorf("cookies seen: %v", names)
	}
}

// A key's name and description are whatever anyone with access to the
// account typed; every page shows them as text, never as markup.
func TestKeyTextIsShownAsTextEverywhere(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	name := `<img src=x onerror="alert('name')"> & "co"`
	desc := `</td><script>alert('description')</script>`
	rec, err := env.Sim.CreateKey(balenasim.NewKey{Kind: balenasim.KindUser, Owner: balenasim.DemoEmail, Name: &name, Description: &desc})
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(rec.ID, 10)
	for _, path := range []string{"/keys?q=onerror", "/keys/" + id, "/keys/" + id + "/actions", "/keys/" + id + "/edit", "/keys/" + id + "/revoke", "/keys/" + id + "/rotate"} {
		for _, hx := range []bool{false, true} {
			var p page
			if hx {
				p = b.get(path, "HX-Request", "true")
			} else {
				p = b.get(path)
			}
			if p.status != http.StatusOK {
				t.Fatalf("%s (htmx %v): status %d", path, hx, p.status)
			}
			if n := p.doc.Find(`img[src="x"], script:not([src])`).Length(); n > 0 {
				t.Errorf("%s (htmx %v): %d elements made of key text", path, hx, n)
			}
			if !strings.Contains(p.doc.Text(), name) && !strings.Contains(p.body, `value="`+html.EscapeString(name)+`"`) {
				t.Errorf("%s (htmx %v): the name is not shown as typed", path, hx)
			}
		}
	}
	row := b.get("/keys?q=onerror").doc.Find(`tr[data-key-id="` + id + `"]`)
	if got := row.Find("td.name").Text(); got != name {
		t.Errorf("name cell %q, want %q", got, name)
	}
	if got := row.Find("td.description").Text(); got != desc {
		t.Errorf("description cell %q, want %q", got, desc)
	}
	if got := row.Find("input[name=id]").AttrOr("aria-label", ""); got != "Select "+name {
		t.Errorf("checkbox label %q", got)
	}
}

// Every page and action, present and future, except sign-in, the probes, /metrics
// and static files, sends a browser without a session to sign in and asks
// balena nothing.
func TestEveryRouteButSignInNeedsASession(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	public := []string{"/signin", "/healthz", "/readyz", "/metrics", "/static/", "/favicon"} // /metrics: its own guard (metrics_test.go)
	var checked int
	for _, r := range handlers.RoutesOf(env.Portal) {
		if r.Method != http.MethodGet || slices.ContainsFunc(public, func(p string) bool { return strings.HasPrefix(r.Path, p) }) ||
			strings.Contains(r.Path, "*") || r.Path == "/" {
			continue
		}
		path := r.Path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "1", 1)
			}
		}
		env.Sim.ResetCounters()
		for _, hx := range []bool{false, true} {
			b := newBrowser(t, env)
			var p page
			if hx {
				p = b.get(path, "HX-Request", "true")
			} else {
				p = b.get(path)
			}
			signIn := strings.Contains(p.url, "/signin") || strings.Contains(p.header.Get("HX-Redirect"), "/signin") ||
				strings.Contains(p.header.Get("HX-Location"), "/signin")
			if !signIn || p.doc.Find("table.keys, #secret, form.keyform").Length() > 0 {
				t.Errorf("GET %s (htmx %v) without a session: %d at %s", path, hx, p.status, p.url)
			}
		}
		if n := env.Sim.Counters().Total(); n != 0 {
			t.Errorf("GET %s without a session: balena got %d calls", path, n)
		}
		checked++
		t.Logf("checked %s", path)
	}
	if checked < 8 {
		t.Errorf("only %d routes checked", checked)
	}
}
