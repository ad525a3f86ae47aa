package e2e

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/playwright-community/playwright-go"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
)

// Sign out everywhere from the header's menu ends the account's session in
// another browser too; the menu works without JavaScript as well.
func TestSignOutEverywhere(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	here := newPage(t, playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1280, Height: 900}})
	there := newPage(t)
	for _, page := range []playwright.Page{here, there} {
		signIn(t, page, env.URL, balenasim.DemoEmail, balenasim.DemoPassword)
		must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys$`)))
	}

	menu := here.Locator("header summary[aria-label='More sign-out options']")
	must(t, menu.Click())
	everywhere := here.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Sign out everywhere"})
	must(t, expect.Locator(everywhere).ToBeVisible())
	checkA11y(t, here, "the account menu, open")
	_, err := here.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(filepath.Join(artifacts, "account-menu.png"))})
	must(t, err)
	must(t, here.Keyboard().Press("Escape"))
	must(t, expect.Locator(everywhere).ToBeHidden())
	must(t, menu.Click())
	must(t, everywhere.Click())
	must(t, expect.Page(here).ToHaveURL(regexp.MustCompile(`/signin\?reason=signed-out-everywhere$`)))
	must(t, expect.Locator(here.GetByRole("status")).ToHaveText("You have signed out everywhere: every session of your account in this portal has ended, in every browser."))

	goTo(t, there, env.URL+"/keys")
	must(t, expect.Page(there).ToHaveURL(regexp.MustCompile(`/signin\?reason=ended-everywhere$`)))
	must(t, expect.Locator(there.GetByRole("status")).ToHaveText("Your account was signed out everywhere, from another browser. Sign in again."))

	// Without JavaScript: the menu is a disclosure and the button a form.
	plain := newPage(t, playwright.BrowserNewContextOptions{JavaScriptEnabled: playwright.Bool(false)})
	signIn(t, plain, env.URL, balenasim.DemoEmail, balenasim.DemoPassword)
	signIn(t, there, env.URL, balenasim.DemoEmail, balenasim.DemoPassword)
	must(t, expect.Page(plain).ToHaveURL(regexp.MustCompile(`/keys$`)))
	must(t, plain.Locator("header summary[aria-label='More sign-out options']").Click())
	must(t, plain.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Sign out everywhere"}).Click())
	must(t, expect.Page(plain).ToHaveURL(regexp.MustCompile(`/signin\?reason=signed-out-everywhere$`)))
	goTo(t, there, env.URL+"/keys")
	must(t, expect.Page(there).ToHaveURL(regexp.MustCompile(`/signin\?reason=ended-everywhere$`)))
}
