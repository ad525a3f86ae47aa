package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

// A shared link to a filtered view, the overview or a view of the audit
// trail survives the sign-in it leads to.
func TestSignInReturnsToTheLinkThatAskedForIt(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	for _, link := range []string{"/keys?kind=device&sort=name&status=active", "/overview", "/audit?action=revoke"} {
		b := newBrowser(t, env)
		p := b.get(link)
		u, _ := url.Parse(p.url)
		if u.Path != "/signin" || u.Query().Get("next") != link {
			t.Fatalf("signed out, %s led to %s", link, p.url)
		}
		done := b.submit(p, "#signin-password", map[string]string{"email": balenasim.DemoEmail, "password": balenasim.DemoPassword})
		if done.status != http.StatusOK || !strings.HasSuffix(done.url, link) {
			t.Errorf("after sign-in: %s (%d), want %s", done.url, done.status, link)
		}
	}
}

func TestSignInNextGoesNowhereElse(t *testing.T) {
	// Nine sign-ins of one account in a row: more than the portal's own limit allows.
	env := portaltest.Start(t, portaltest.Options{Config: func(c *config.Config) {
		c.SignInLimitAccount = config.Limit{N: 100, Per: time.Minute}
	}})
	for _, next := range []string{
		"//evil.example/keys", "https://evil.example/keys", "/\\evil.example", "/keys/../signout", "/signout",
		"/healthz", "javascript:alert(1)", "/keys\r\nLocation: /x", "",
	} {
		b := newBrowser(t, env)
		p := b.get("/signin?next=" + url.QueryEscape(next))
		if v, ok := p.doc.Find("#signin-password input[name=next]").Attr("value"); ok {
			t.Errorf("next=%q is carried as %q", next, v)
		}
		form := url.Values{"next": {next}}
		done := b.submit(p, "#signin-password", map[string]string{"email": balenasim.DemoEmail, "password": balenasim.DemoPassword, "next": form.Get("next")})
		if done.status != http.StatusOK || !strings.HasSuffix(done.url, "/keys") {
			t.Errorf("next=%q: ended at %s (%d)", next, done.url, done.status)
		}
	}
}

func TestTwoFactorSignInKeepsTheLink(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	b := newBrowser(t, env)
	link := "/keys?q=gw"
	p := b.get(link)
	code := b.submit(p, "#signin-password", map[string]string{"email": balenasim.Demo2FAEmail, "password": balenasim.DemoPassword})
	if !strings.Contains(code.url, "/signin/code") {
		t.Fatalf("no code step: %s", code.url)
	}
	done := b.submit(code, "form", map[string]string{"code": balenasim.TOTPCode(env.Sim.TOTPSecret(balenasim.Demo2FAEmail), time.Now())})
	if !strings.HasSuffix(done.url, link) {
		t.Errorf("after the code: %s, want %s", done.url, link)
	}
}

func TestHTMXRequestWithoutSessionRedirectsBackToItsPage(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	b := newBrowser(t, env)
	p := b.get("/keys?kind=user", "HX-Request", "true", "HX-Current-URL", env.URL+"/keys?kind=user&sort=name")
	if p.status != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", p.status)
	}
	if got := p.header.Get("HX-Redirect"); got != "/signin?next="+url.QueryEscape("/keys?kind=user&sort=name") {
		t.Errorf("HX-Redirect %q", got)
	}
}
