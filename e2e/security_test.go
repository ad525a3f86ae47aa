package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
)

// The watcher every test relies on works: an inline script injected into
// a portal page is refused by the CSP, and the test hears of it.
func TestCSPViolationsAreCaught(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page, violations := openPage(t, false)
	goTo(t, page, env.URL+"/signin")
	_, err := page.Evaluate(`() => {
		const s = document.createElement("script");
		s.textContent = "window.injected = true";
		document.body.appendChild(s);
	}`)
	must(t, err)
	select {
	case v := <-violations:
		if !strings.Contains(v, "script-src") {
			t.Errorf("violation report %q does not name script-src", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no CSP violation reported for an injected inline script")
	}
	if injected, _ := page.Evaluate("() => window.injected === true"); injected == true {
		t.Error("the injected inline script ran")
	}
}

// secretsKept watches a browser session for secrets showing up anywhere a
// person or another program could read them: the pages as displayed, the
// browser's storage and cookies.
type secretsKept struct {
	t        *testing.T
	page     playwright.Page
	snapshot []string
}

// look records what the page shows now, and its storage.
func (s *secretsKept) look() {
	s.t.Helper()
	html, err := s.page.Content()
	must(s.t, err)
	storage, err := s.page.Evaluate(`() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])`)
	must(s.t, err)
	cookies, err := s.page.Context().Cookies()
	must(s.t, err)
	s.snapshot = append(s.snapshot, s.page.URL()+"\n"+html, storage.(string))
	for _, c := range cookies {
		s.snapshot = append(s.snapshot, c.Name+"="+c.Value)
	}
}

// A full run through every way to sign in (password with a wrong and then
// a right 2FA code, a pasted session token, a pasted API key, a bad
// token), the keys page, a filter, an error and sign-out, with Chromium
// reporting no CSP violation on any page, and no token, key, password or
// TOTP secret in the portal's logs, any page, the browser's storage or
// cookies, or the session files.
func TestFullRunShowsNoSecretAndNoCSPViolation(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	name := "e2e-secret-check"
	apiKey, err := env.Sim.CreateKey(balenasim.NewKey{Kind: balenasim.KindUser, Owner: balenasim.DemoEmail, Name: &name})
	must(t, err)
	token, err := env.Sim.IssueToken(balenasim.DemoEmail, time.Now())
	must(t, err)
	totpSecret := env.Sim.TOTPSecret(balenasim.Demo2FAEmail)
	secrets := map[string]string{
		"session token": token, "API key": apiKey.Secret, "password": balenasim.DemoPassword, "TOTP secret": totpSecret,
	}
	// Any JWT at all, such as the ones balena issued during the password
	// sign-ins, which this test never sees.
	jwt := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}`)
	if !jwt.MatchString(token) {
		t.Fatal("the JWT pattern does not match a balena token")
	}

	page := newPage(t, playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1280, Height: 900}})
	seen := &secretsKept{t: t, page: page}
	signOut := func() {
		t.Helper()
		must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Sign out"}).Click())
		must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/signin\?reason=signed-out$`)))
		seen.look()
	}

	// 1. Password and 2FA: a wrong code first.
	signIn(t, page, env.URL, balenasim.Demo2FAEmail, balenasim.DemoPassword)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/signin/code$`)))
	seen.look()
	code := page.GetByLabel("Code")
	must(t, code.Fill("000000"))
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Verify"}).Click())
	if balenasim.TOTPCode(totpSecret, time.Now()) != "000000" {
		must(t, expect.Locator(page.GetByRole("alert")).ToHaveText("That code is not right. Enter the current code from your authenticator app."))
	}
	seen.look()
	must(t, code.Fill(balenasim.TOTPCode(totpSecret, time.Now())))
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Verify"}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys$`)))
	must(t, expect.Locator(page.GetByRole("table")).ToBeVisible())
	seen.look()
	// A filter through htmx, a bad value in the URL, a page that is not there.
	must(t, page.GetByLabel("Search").Fill("gw"))
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`q=gw`)))
	seen.look()
	goTo(t, page, env.URL+"/keys?status=bogus")
	seen.look()
	goTo(t, page, env.URL+"/nope")
	seen.look()
	// balena rate-limiting the portal: the error banner.
	env.Sim.SetFaults(balenasim.Faults{RateLimitRate: 1, RetryAfter: 30 * time.Second, Routes: []string{"GET /v7/api_key"}})
	goTo(t, page, env.URL+"/keys")
	must(t, expect.Locator(page.Locator(".flash-error")).ToBeVisible())
	seen.look()
	env.Sim.SetFaults(balenasim.Faults{})
	goTo(t, page, env.URL+"/keys")
	signOut()

	// 2. A pasted session token; first a token balena does not know.
	pasteToken := func(tok string) {
		t.Helper()
		goTo(t, page, env.URL+"/signin")
		must(t, page.GetByText("Or sign in with a session token or API key").Click())
		must(t, page.GetByLabel("Token").Fill(tok))
		must(t, page.Locator("#signin-token").GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Sign in"}).Click())
	}
	pasteToken(strings.ToUpper(apiKey.Secret) + "-not-it")
	must(t, expect.Locator(page.GetByRole("alert")).ToHaveText("balena does not accept that token: it is unknown, expired or revoked."))
	seen.look()
	pasteToken(token)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys$`)))
	must(t, expect.Locator(page.GetByRole("note")).ToHaveCount(0))
	seen.look()
	signOut()

	// 3. A pasted API key: the header says what it cannot do.
	pasteToken(apiKey.Secret)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys$`)))
	must(t, expect.Locator(page.Locator(".account .badge")).ToHaveText("API key"))
	must(t, expect.Locator(page.GetByRole("note")).ToContainText("Signed in with an API key: you can see keys but not create user keys"))
	seen.look()
	_, err = page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(filepath.Join(artifacts, "api-key-session.png"))})
	must(t, err)
	signOut()

	files, _ := filepath.Glob(filepath.Join(env.DataDir(), "sessions", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		must(t, err)
		seen.snapshot = append(seen.snapshot, f+"\n"+string(b))
	}
	logs := env.Logs.String()
	if !strings.Contains(logs, "signed in") || !strings.Contains(logs, "signed out") {
		t.Fatalf("the run left no sign-in log lines:\n%s", logs)
	}
	for _, s := range append(seen.snapshot, logs) {
		if jwt.MatchString(s) {
			t.Errorf("a JWT shows up in %.80q", s)
		}
	}
	for what, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold the %s", what)
		}
		for _, s := range seen.snapshot {
			if strings.Contains(s, secret) {
				t.Errorf("the %s shows up in %.80q", what, s)
			}
		}
	}
}
