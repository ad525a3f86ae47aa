package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

func signedIn(t *testing.T, opts portaltest.Options) (*portaltest.Env, *browser) {
	t.Helper()
	env := portaltest.Start(t, opts)
	b := newBrowser(t, env)
	if p := b.signIn(balenasim.DemoEmail, balenasim.DemoPassword); p.status != 200 {
		t.Fatalf("sign-in: %d\n%s", p.status, p.body)
	}
	return env, b
}

func TestEveryPageCarriesSecurityHeaders(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	for _, path := range []string{"/signin", "/keys", "/keys?status=bogus", "/nope"} {
		p := b.get(path)
		csp := p.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self' 'nonce-", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("%s: CSP allows unsafe code: %q", path, csp)
		}
		if p.header.Get("X-Content-Type-Options") != "nosniff" || p.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, p.header)
		}
		// Every script tag carries this response's nonce.
		nonce := csp[strings.Index(csp, "'nonce-")+7:]
		nonce = nonce[:strings.Index(nonce, "'")]
		if n := p.doc.Find("script").Length(); n > 0 && p.doc.Find("script[nonce='"+nonce+"']").Length() != n {
			t.Errorf("%s: scripts without this response's nonce", path)
		}
	}
}

func TestBadURLValuesGetAMessageAndTheRestOfTheView(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	for _, q := range []string{
		"status=soon", "kind=admin", "sort=key", "per_page=7", "page=abc", "page=-3", "within=0&status=expiring",
		"created_after=yesterday", "expires_before=2025-13-01", "fleet=%27%3B--", "device=zz",
		"created_after=2025-05-01&created_before=2025-01-01", "q=" + strings.Repeat("x", 500), "q=%ff%fe",
	} {
		p := b.get("/keys?" + q)
		if p.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, p.status)
		}
		if p.doc.Find(".field-error").Length() == 0 && !strings.HasPrefix(q, "page=") && !strings.HasPrefix(q, "kind=") && !strings.HasPrefix(q, "sort=") {
			t.Errorf("%s: no message beside the field", q)
		}
		if p.doc.Find(".flash-warning").Length() == 0 {
			t.Errorf("%s: no warning banner", q)
		}
		if p.doc.Find("table.keys tbody tr").Length() == 0 && !strings.HasPrefix(q, "q=") {
			t.Errorf("%s: the rest of the view is gone", q)
		}
	}
}

func TestPageBeyondTheLastSaysSo(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	p := b.get("/keys?page=999")
	if p.status != 200 || !strings.Contains(p.doc.Find(".empty").Text(), "past the last page") {
		t.Errorf("page 999: %d %q", p.status, p.doc.Find(".empty").Text())
	}
}

func TestHTMXGetsTheFragmentAndTheURLToPush(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	p := b.get("/keys?kind=device&sort=name", "HX-Request", "true")
	if p.status != 200 {
		t.Fatalf("status %d", p.status)
	}
	if p.doc.Find("html > head > title").Length() != 0 || p.doc.Find("section#results").Length() != 1 {
		t.Errorf("want only the results fragment:\n%s", p.body)
	}
	if got := p.header.Get("HX-Push-Url"); got != "/keys?kind=device&sort=name" {
		t.Errorf("HX-Push-Url = %q", got)
	}
	if vary := strings.Join(p.header.Values("Vary"), ","); !strings.Contains(vary, "HX-Request") {
		t.Errorf("Vary = %q", vary)
	}
	kinds := p.doc.Find("table.keys tbody td.kind-cell").Text()
	if strings.Contains(kinds, "user") || strings.Contains(kinds, "provisioning") || !strings.Contains(kinds, "device") {
		t.Errorf("kind=device showed kinds %q", kinds)
	}
}

func TestUpstreamFailuresBecomeABanner(t *testing.T) {
	cases := map[string]struct {
		faults balenasim.Faults
		status int
		says   string
	}{
		"5xx":      {balenasim.Faults{ErrorRate: 1}, http.StatusBadGateway, "balena answered with an error"},
		"429":      {balenasim.Faults{RateLimitRate: 1, RetryAfter: time.Hour}, http.StatusTooManyRequests, "rate-limiting"},
		"garbage":  {balenasim.Faults{GarbageRate: 1}, http.StatusBadGateway, "balena answered with an error"},
		"reset":    {balenasim.Faults{ResetRate: 1}, http.StatusBadGateway, "balena answered with an error"},
		"truncate": {balenasim.Faults{TruncateRate: 1}, http.StatusBadGateway, "balena answered with an error"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			env, b := signedIn(t, portaltest.Options{})
			env.Sim.SetFaults(c.faults)
			for _, hx := range []bool{false, true} {
				var p page
				if hx {
					p = b.get("/keys", "HX-Request", "true")
				} else {
					p = b.get("/keys")
				}
				if p.status != c.status {
					t.Errorf("htmx=%v: status %d, want %d", hx, p.status, c.status)
				}
				if banner := p.doc.Find(".flash-error").Text(); !strings.Contains(banner, c.says) {
					t.Errorf("htmx=%v: banner %q, want it to say %q", hx, banner, c.says)
				}
			}
		})
	}
}

func TestTimeoutBecomesABanner(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{Config: func(c *config.Config) { c.UpstreamTimeout = 300 * time.Millisecond }})
	env.Sim.SetFaults(balenasim.Faults{Latency: 2 * env.Config.UpstreamTimeout})
	p := b.get("/keys")
	if p.status != http.StatusGatewayTimeout || !strings.Contains(p.doc.Find(".flash-error").Text(), "did not answer in time") {
		t.Errorf("status %d, banner %q", p.status, p.doc.Find(".flash-error").Text())
	}
}

func TestPostWithoutCSRFTokenIsRefusedBeforeBalena(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	b := newBrowser(t, env)
	env.Sim.ResetCounters()
	p := b.post("/signin", url.Values{"email": {balenasim.DemoEmail}, "password": {balenasim.DemoPassword}})
	if p.status != http.StatusForbidden {
		t.Errorf("status %d, want 403", p.status)
	}
	if n := env.Sim.Counters().Total(); n != 0 {
		t.Errorf("balena got %d calls", n)
	}
}

func TestAPIKeySignInKeepsTheKeySecret(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	name := "portal-test"
	rec, err := env.Sim.CreateKey(balenasim.NewKey{Kind: balenasim.KindUser, Owner: balenasim.DemoEmail, Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, env)
	p := b.submit(b.get("/signin"), "#signin-token", map[string]string{"token": rec.Secret})
	if p.status != 200 || !strings.HasSuffix(p.url, "/keys") {
		t.Fatalf("API-key sign-in: %s %d\n%s", p.url, p.status, p.body)
	}
	if p.doc.Find(".account .badge").Text() != "API key" {
		t.Errorf("the header should say the session is an API key")
	}
	for _, u := range b.http.Jar.Cookies(mustURL(env.URL)) {
		if strings.Contains(u.Value, rec.Secret) {
			t.Errorf("cookie %s holds the key", u.Name)
		}
	}
	if strings.Contains(p.body, rec.Secret) || env.Logs.Contains(rec.Secret) {
		t.Error("the API key leaked into the page or the logs")
	}
	if !env.Logs.Contains("signed in") {
		t.Error("no log line for the sign-in")
	}

	other := newBrowser(t, env)
	bad := other.submit(other.get("/signin"), "#signin-token", map[string]string{"token": "not-a-real-key"})
	if bad.status != http.StatusUnauthorized || !strings.Contains(bad.doc.Find(".flash").Text(), "does not accept that token") {
		t.Errorf("bad token: %d %q", bad.status, bad.doc.Find(".flash").Text())
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestFleetListIsReusedForAMinute(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	env, b := signedIn(t, portaltest.Options{Config: func(c *config.Config) { c.Now = clock }})
	fleets := func() int { return env.Sim.Counters().Get("GET /v7/application") }

	// Signing in landed on /keys, which fetched the fleets once.
	env.Sim.ResetCounters()
	first := b.get("/keys")
	b.get("/keys?kind=device")
	if fleets() != 0 {
		t.Errorf("pages within a minute of the last fetch asked balena for the fleets %d times", fleets())
	}
	if first.doc.Find("#f-fleet option").Length() < 2 {
		t.Error("no fleets in the filter")
	}
	mu.Lock()
	now = now.Add(61 * time.Second)
	mu.Unlock()
	b.get("/keys")
	if fleets() != 1 {
		t.Errorf("after a minute the fleets were fetched %d times, want 1", fleets())
	}
	other := newBrowser(t, env)
	other.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	if fleets() != 2 {
		t.Errorf("another session reused this one's fleets (%d fetches, want 2)", fleets())
	}
}

func TestPagesAreCompressedAndSmallAnswersAreNot(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	raw := &http.Client{Jar: b.http.Jar, Transport: &http.Transport{DisableCompression: true}}
	get := func(path string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, env.URL+path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		res, err := raw.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := get("/keys"); res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(strings.Join(res.Header.Values("Vary"), ","), "Accept-Encoding") {
		t.Errorf("/keys: Content-Encoding %q, Vary %v", res.Header.Get("Content-Encoding"), res.Header.Values("Vary"))
	}
	if res := get("/healthz"); res.Header.Get("Content-Encoding") != "" {
		t.Errorf("/healthz (3 bytes) was compressed")
	}
}

// A link to one fleet's keys shows that fleet chosen in the filter, and
// submitting the form as it stands keeps it.
func TestFleetFilterShowsTheLinkedFleet(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	p := b.get("/keys?fleet=acme%2Fplant-3")
	chosen := p.doc.Find("#f-fleet option[selected]")
	if chosen.Length() != 1 || chosen.Text() != "acme/plant-3" {
		t.Fatalf("chosen fleet options: %d %q", chosen.Length(), chosen.Text())
	}
	if rows := p.doc.Find("table.keys tbody tr").Length(); rows == 0 {
		t.Error("no keys for the fleet")
	}
	again := b.submit(p, "#filters", nil)
	if !strings.Contains(again.url, "fleet=acme%2Fplant-3") || again.doc.Find("#f-fleet option[selected]").Text() != "acme/plant-3" {
		t.Errorf("submitting the filters lost the fleet: %s", again.url)
	}
}
