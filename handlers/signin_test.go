package handlers_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

const loginRoute = "POST /login_"

func flashText(p page) string { return strings.TrimSpace(p.doc.Find(".flash").Text()) }

// wantRefused checks a 429 with its Retry-After (seconds) and message.
func wantRefused(t *testing.T, what string, p page, retryAfter, message string) {
	t.Helper()
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != retryAfter || flashText(p) != message {
		t.Errorf("%s: %d Retry-After=%q %q, want 429 Retry-After=%q %q", what, p.status, p.header.Get("Retry-After"), flashText(p), retryAfter, message)
	}
}

// wrongPasswords signs in n times with a wrong password, each a 401.
func wrongPasswords(t *testing.T, b *browser, email string, n int) {
	t.Helper()
	for range n {
		if p := b.signIn(email, "guess"); p.status != http.StatusUnauthorized {
			t.Fatalf("wrong password for %s: %d %q", email, p.status, flashText(p))
		}
	}
}

// wrongCode is a 6-digit code the authenticator would not show around now.
func wrongCode(secret string, now time.Time) string {
	for _, c := range []string{"000000", "111111", "222222"} {
		if c != balenasim.TOTPCode(secret, now) && c != balenasim.TOTPCode(secret, now.Add(-30*time.Second)) &&
			c != balenasim.TOTPCode(secret, now.Add(30*time.Second)) {
			return c
		}
	}
	panic("unreachable")
}

func TestTwoFactorWrongCodeThenRightCode(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	b := newBrowser(t, env)
	code := b.signIn(balenasim.Demo2FAEmail, balenasim.DemoPassword)
	if !strings.HasSuffix(code.url, "/signin/code") || code.doc.Find("label[for=code]").Text() != "Code" {
		t.Fatalf("password step of a 2FA account ended at %s:\n%s", code.url, code.body)
	}
	secret := env.Sim.TOTPSecret(balenasim.Demo2FAEmail)
	wrong := b.submit(code, "form", map[string]string{"code": wrongCode(secret, time.Now())})
	if wrong.status != http.StatusUnauthorized || flashText(wrong) != "That code is not right. Enter the current code from your authenticator app." {
		t.Errorf("wrong code: %d %q", wrong.status, flashText(wrong))
	}
	if p := b.submit(wrong, "form", map[string]string{"code": "12ab"}); p.status != http.StatusBadRequest ||
		flashText(p) != "Enter the 6-digit code from your authenticator app." {
		t.Errorf("malformed code: %d %q", p.status, flashText(p))
	}
	keys := b.submit(wrong, "form", map[string]string{"code": balenasim.TOTPCode(secret, time.Now())})
	if keys.status != http.StatusOK || !strings.HasSuffix(keys.url, "/keys") {
		t.Errorf("right code: %s %d %q", keys.url, keys.status, flashText(keys))
	}
}

func TestTwoFactorStepTimesOut(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	env := portaltest.Start(t, portaltest.Options{Clock: clock})
	b := newBrowser(t, env)
	code := b.signIn(balenasim.Demo2FAEmail, balenasim.DemoPassword)
	clock.Advance(11 * time.Minute)
	p := b.submit(code, "form", map[string]string{"code": balenasim.TOTPCode(env.Sim.TOTPSecret(balenasim.Demo2FAEmail), clock.Now())})
	if !strings.HasSuffix(p.url, "/signin?reason=code-timeout") || !strings.Contains(flashText(p), "waited too long") {
		t.Errorf("late code: %s %q", p.url, flashText(p))
	}
}

// Each pasted token that cannot work gets its own reason, never a 500, and
// the ones that are visibly unusable never reach balena.
func TestPastedTokenFailuresSayWhy(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	env := portaltest.Start(t, portaltest.Options{Clock: clock})
	stale, err := env.Sim.IssueToken(balenasim.DemoEmail, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(8 * 24 * time.Hour) // past the token's seven days
	api, _ := apiclient.New(apiclient.Options{BaseURL: env.SimURL})
	partial, err := api.Login(context.Background(), balenasim.Demo2FAEmail, balenasim.DemoPassword)
	if err != nil {
		t.Fatal(err)
	}
	fleetKey, err := env.Sim.CreateKey(balenasim.NewKey{Kind: balenasim.KindProvisioning, Owner: "acme/plant-3"})
	if err != nil {
		t.Fatal(err)
	}
	otherSim, _ := balenasim.New(balenasim.Options{Now: clock.Now})
	forged, _ := otherSim.IssueToken(balenasim.DemoEmail, clock.Now())

	for _, c := range []struct {
		name, token string
		status      int
		want        string
		balena      bool // whether balena is asked
	}{
		{"unknown API key", "not-a-real-key", 401, "balena does not accept that token: it is unknown, expired or revoked.", true},
		{"token of another server", forged, 401, "balena does not accept that token: it is unknown, expired or revoked.", true},
		{"expired session token", stale, 401, "That session token expired on ", false},
		{"token waiting for 2FA", partial, 401, "That token is still waiting for its two-factor code.", false},
		{"fleet provisioning key", fleetKey.Secret, 403, "That is a fleet's provisioning key (acme/plant-3), which cannot list API keys.", true},
		{"nothing", "   ", 400, "Paste a session token or an API key.", false},
	} {
		env.Sim.ResetCounters()
		_, p := signInWithToken(t, env, c.token)
		if p.status != c.status || !strings.HasPrefix(flashText(p), c.want) {
			t.Errorf("%s: %d %q, want %d %q", c.name, p.status, flashText(p), c.status, c.want)
		}
		if asked := env.Sim.Counters().Total() > 0; asked != c.balena {
			t.Errorf("%s: balena asked = %v, want %v", c.name, asked, c.balena)
		}
		if p.doc.Find("details.alt[open]").Length() != 1 {
			t.Errorf("%s: the token form should stay open to show its error", c.name)
		}
	}
}

// balena's own login throttle (429 with Retry-After) becomes a message that
// says how long to wait, and the same Retry-After.
func TestBalenaLoginThrottleSaysHowLongToWait(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Sim: func(o *balenasim.Options) {
		o.LoginMaxAttempts, o.LoginWindow, o.LoginBlock = 2, time.Hour, 30*time.Minute
	}})
	b := newBrowser(t, env)
	wrongPasswords(t, b, balenasim.DemoEmail, 2)
	p := b.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	wantRefused(t, "blocked sign-in", p, "1800", "balena refuses sign-ins for this account for now, after too many attempts. Try again in 30 minutes.")
	if v := p.doc.Find("#email").AttrOr("value", ""); v != balenasim.DemoEmail {
		t.Errorf("email not kept: %q", v)
	}
}

// The portal's own limit stops a guesser before balena is asked: per
// account, then per client address, and it lifts with time.
func TestPortalLimitsSignInAttemptsPerAccountAndAddress(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	env := portaltest.Start(t, portaltest.Options{Clock: clock, Config: func(c *config.Config) {
		c.SignInLimitAccount = config.Limit{N: 3, Per: 15 * time.Minute}
		c.SignInLimitIP = config.Limit{N: 5, Per: 10 * time.Minute}
	}})
	b := newBrowser(t, env)
	env.Sim.ResetCounters()
	wrongPasswords(t, b, balenasim.DemoEmail, 3)
	wantRefused(t, "4th attempt", b.signIn(balenasim.DemoEmail, balenasim.DemoPassword), "300",
		"Too many sign-in attempts for this account. Try again in 5 minutes.")
	if n := env.Sim.Counters().Get(loginRoute); n != 3 {
		t.Errorf("balena got %d logins, want 3: the 4th must stop at the portal", n)
	}
	// Another account from the same address may still try, until the
	// address's own limit (5, with the refused one not counted).
	wrongPasswords(t, b, balenasim.DemoOtherEmail, 1)
	wrongPasswords(t, b, "eve@example.com", 1)
	wantRefused(t, "6th attempt from one address", b.signIn("nobody@example.com", "guess"), "120",
		"Too many sign-in attempts from your network address. Try again in 2 minutes.")
	// A client cannot pose as another address: without trusted proxies,
	// X-Forwarded-For is ignored.
	p := b.submit(b.get("/signin"), "#signin-token", map[string]string{"token": "x"})
	if p.status != http.StatusTooManyRequests {
		t.Errorf("token sign-in from a throttled address: %d", p.status)
	}
	req := b.get("/signin", "X-Forwarded-For", "203.0.113.9")
	if p := b.submit(req, "#signin-password", map[string]string{"email": "x@example.com", "password": "y"}); p.status != http.StatusTooManyRequests {
		t.Errorf("spoofed X-Forwarded-For got through: %d", p.status)
	}

	clock.Advance(5 * time.Minute)
	if p := b.signIn(balenasim.DemoEmail, balenasim.DemoPassword); p.status != http.StatusOK || !strings.HasSuffix(p.url, "/keys") {
		t.Errorf("after waiting: %s %d %q", p.url, p.status, flashText(p))
	}
}

// Behind a trusted proxy, the address is the one it forwards.
func TestTrustedProxyNamesTheClient(t *testing.T) {
	_, loopback, _ := net.ParseCIDR("127.0.0.1/32")
	env := portaltest.Start(t, portaltest.Options{Config: func(c *config.Config) {
		c.SignInLimitIP = config.Limit{N: 1, Per: time.Hour}
		c.TrustedProxies = []*net.IPNet{loopback}
	}})
	b := newBrowser(t, env)
	attempt := func(email, ip string) page {
		token := b.get("/signin").doc.Find("#signin-password input[name=_csrf]").AttrOr("value", "")
		return b.post("/signin", url.Values{"email": {email}, "password": {"guess"}, "_csrf": {token}}, "X-Forwarded-For", ip)
	}
	if p := attempt(balenasim.DemoEmail, "203.0.113.1"); p.status != http.StatusUnauthorized {
		t.Errorf("first client: %d %q", p.status, flashText(p))
	}
	if p := attempt(balenasim.DemoOtherEmail, "203.0.113.2"); p.status != http.StatusUnauthorized {
		t.Errorf("second client: %d %q", p.status, flashText(p))
	}
	if p := attempt("eve@example.com", "203.0.113.1"); p.status != http.StatusTooManyRequests {
		t.Errorf("first client again: %d, want 429", p.status)
	}
}
