package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// newPage opens a page in a fresh browser context (its own cookies), and
// fails the test on any script error or CSP violation the page reports.
func newPage(t *testing.T, opts ...playwright.BrowserNewContextOptions) playwright.Page {
	t.Helper()
	page, _ := openPage(t, true, opts...)
	return page
}

// openPage is newPage that also returns the CSP violations Chromium
// reports, as they come. With strict, each one fails the test as well.
func openPage(t *testing.T, strict bool, opts ...playwright.BrowserNewContextOptions) (playwright.Page, <-chan string) {
	t.Helper()
	if browser == nil {
		t.Skip("KEYPORTAL_E2E is not set")
	}
	bc, err := browser.NewContext(opts...)
	if err != nil {
		t.Fatal(err)
	}
	violations := make(chan string, 64)
	// Every document reports its securitypolicyviolation events to the
	// test through an exposed binding; the init script runs before any of
	// the page's own scripts, and CSP does not apply to it.
	must(t, bc.ExposeBinding("__keyportalCSPViolation", func(_ *playwright.BindingSource, args ...any) any {
		msg := fmt.Sprint(args...)
		if strict {
			t.Errorf("CSP violation: %s", msg)
		}
		select {
		case violations <- msg:
		default:
		}
		return nil
	}))
	must(t, bc.AddInitScript(playwright.Script{Content: playwright.String(`document.addEventListener("securitypolicyviolation", (e) =>
		window.__keyportalCSPViolation(e.violatedDirective + " blocked " + (e.blockedURI || "inline code") + " on " + e.documentURI +
			(e.sourceFile ? " (" + e.sourceFile + ":" + e.lineNumber + ")" : "")), true);`)}))
	page, err := bc.NewPage()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A round trip to the page lets reports still in flight arrive
		// before the context goes.
		_, _ = page.Evaluate("() => 0")
		_ = bc.Close()
	})
	page.OnPageError(func(err error) { t.Errorf("page error: %v", err) })
	page.OnConsole(func(m playwright.ConsoleMessage) {
		// Chromium reports every 4xx answer as a console error; those are
		// pages doing their job (a wrong password is a 401). A test that
		// makes balena fail on purpose names the errors it expects.
		if strict && m.Type() == "error" && !strings.HasPrefix(m.Text(), "Failed to load resource: the server responded with a status of 4") &&
			!consoleExpected(page, m.Text()) {
			t.Errorf("console error on %s: %s", page.URL(), m.Text())
		}
	})
	return page, violations
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

// expected holds, per page, the console errors a test provokes on purpose.
var expected sync.Map // playwright.Page -> []*regexp.Regexp

// expectConsoleErrors lets page log errors matching patterns, such as the
// browser's report of a 502 that a test injected at the stand-in.
func expectConsoleErrors(page playwright.Page, patterns ...string) {
	var res []*regexp.Regexp
	for _, p := range patterns {
		res = append(res, regexp.MustCompile(p))
	}
	expected.Store(page, res)
}

func consoleExpected(page playwright.Page, text string) bool {
	v, ok := expected.Load(page)
	if !ok {
		return false
	}
	for _, re := range v.([]*regexp.Regexp) {
		if re.MatchString(text) {
			return true
		}
	}
	return false
}

// chooseProvisioningKey picks, on the create form, a provisioning key for
// the first fleet the list offers.
func chooseProvisioningKey(t *testing.T, page playwright.Page) {
	t.Helper()
	must(t, page.GetByLabel("Provisioning key").Check())
	fleet := page.GetByLabel("Fleet", playwright.PageGetByLabelOptions{Exact: playwright.Bool(true)})
	must(t, expect.Locator(fleet).ToBeVisible())
	options, err := fleet.Locator("option").AllTextContents()
	must(t, err)
	_, err = fleet.SelectOption(playwright.SelectOptionValues{Values: &[]string{options[1]}})
	must(t, err)
}
