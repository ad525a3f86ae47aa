package e2e

import (
	"strings"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// newPage opens a page in a fresh browser context (its own cookies), and
// fails the test on any script error or CSP violation the page reports.
func newPage(t *testing.T, opts ...playwright.BrowserNewContextOptions) playwright.Page {
	t.Helper()
	if browser == nil {
		t.Skip("KEYPORTAL_E2E is not set")
	}
	bc, err := browser.NewContext(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bc.Close() })
	page, err := bc.NewPage()
	if err != nil {
		t.Fatal(err)
	}
	page.OnPageError(func(err error) { t.Errorf("page error: %v", err) })
	page.OnConsole(func(m playwright.ConsoleMessage) {
		// Chromium reports every 4xx answer as a console error; those are
		// pages doing their job (a wrong password is a 401).
		if m.Type() == "error" && !strings.HasPrefix(m.Text(), "Failed to load resource: the server responded with a status of 4") {
			t.Errorf("console error on %s: %s", page.URL(), m.Text())
		}
	})
	return page
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func goTo(t *testing.T, page playwright.Page, url string) playwright.Response {
	t.Helper()
	res, err := page.Goto(url)
	must(t, err)
	return res
}

// signIn signs in through the password form.
func signIn(t *testing.T, page playwright.Page, base, email, password string) {
	t.Helper()
	goTo(t, page, base+"/signin")
	form := page.Locator("#signin-password")
	must(t, form.GetByLabel("Email").Fill(email))
	must(t, form.GetByLabel("Password").Fill(password))
	must(t, form.GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Sign in"}).Click())
}
