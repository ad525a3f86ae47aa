package e2e

import (
	"regexp"
	"testing"

	"github.com/playwright-community/playwright-go"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
)

const hostileName = `<img src=x onerror=alert(1)>`

// createUserKey makes a user key through the create form.
func createUserKey(t *testing.T, page playwright.Page, base, name, description string) {
	t.Helper()
	goTo(t, page, base+"/keys/new?kind=user")
	must(t, page.GetByLabel("Name").Fill(name))
	must(t, page.GetByLabel("Description").Fill(description))
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Create key"}).Click())
	must(t, expect.Locator(page.GetByLabel("Your new key")).ToBeVisible())
}

// The audit page, reached from the header: the portal's changes newest
// first, hostile names as text, filters that swap the results in place
// and stay in the URL, and no accessibility violation.
func TestAuditPageShowsThePortalsChanges(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1280, Height: 900}})
	createUserKey(t, page, env.URL, hostileName, "made for the audit trail")

	must(t, page.GetByRole("navigation", playwright.PageGetByRoleOptions{Name: "Main"}).GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Audit"}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/audit$`)))
	rows := page.Locator("table.audit tbody tr")
	must(t, expect.Locator(rows).ToHaveCount(1))
	must(t, expect.Locator(rows.First().Locator("td.event-key .name")).ToHaveText(hostileName))
	must(t, expect.Locator(rows.First().Locator("td.action")).ToContainText("Created"))
	must(t, expect.Locator(page.Locator("main img")).ToHaveCount(0))
	checkA11y(t, page, "audit page")
	screenshot(t, page, "audit.png")

	_, err := page.GetByLabel("Action").SelectOption(playwright.SelectOptionValues{Values: &[]string{"revoke"}})
	must(t, err)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/audit\?action=revoke$`)))
	must(t, expect.Locator(page.Locator("#results")).ToContainText("No events match these filters."))
	must(t, expect.Locator(page.Locator("#results")).Not().ToHaveClass(regexp.MustCompile(`htmx-(added|settling|swapping)`)))
	must(t, page.GetByLabel("Key id").Fill("abc"))
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Apply"}).Click())
	must(t, expect.Locator(page.Locator("#fe-key")).ToContainText("is not a key id"))
	checkA11y(t, page, "audit page with a bad filter")
}

// On a phone, in dark mode, the page fits the screen's width and has no
// accessibility violation; without JavaScript the filter form is a plain
// form whose address is the view's.
func TestAuditPageOnAPhoneInDarkModeAndWithoutJavaScript(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{Viewport: phone.Viewport, ColorScheme: playwright.ColorSchemeDark})
	createUserKey(t, page, env.URL, "phone key", hostileName)
	goTo(t, page, env.URL+"/audit")
	must(t, expect.Locator(page.Locator("table.audit tbody tr")).ToHaveCount(1))
	wide, err := page.Evaluate(`document.documentElement.scrollWidth > document.documentElement.clientWidth`)
	must(t, err)
	if wide == true {
		t.Error("the audit page is wider than a phone's screen")
	}
	checkA11y(t, page, "audit page, phone, dark")

	noJS := newPage(t, playwright.BrowserNewContextOptions{JavaScriptEnabled: playwright.Bool(false)})
	signIn(t, noJS, env.URL, balenasim.DemoEmail, balenasim.DemoPassword)
	goTo(t, noJS, env.URL+"/audit")
	_, err = noJS.GetByLabel("Outcome").SelectOption(playwright.SelectOptionValues{Values: &[]string{"ok"}})
	must(t, err)
	must(t, noJS.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Apply"}).Click())
	must(t, expect.Page(noJS).ToHaveURL(regexp.MustCompile(`/audit\?outcome=ok$`)))
	must(t, expect.Locator(noJS.Locator("table.audit tbody tr")).ToHaveCount(1))
}
