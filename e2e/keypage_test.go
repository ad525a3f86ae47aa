package e2e

import (
	"regexp"
	"testing"

	"github.com/playwright-community/playwright-go"

	"github.com/keyportal/keyportal/handlers/portaltest"
)

// A key's name in the table opens its page; an action taken there comes
// back to it; Back returns to the same view. Without JavaScript, in the
// dark and at phone width, revoking from the page leads back to the view,
// and the page then says the key is gone.
func TestKeyPageFromTheTable(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	view := env.URL + "/keys?kind=user&sort=name&status=active"
	goTo(t, page, view)
	row, name := firstRow(t, page)
	must(t, row.Locator("td.name").GetByRole("link", playwright.LocatorGetByRoleOptions{Name: name}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys/\d+\?return=%2Fkeys%3Fkind%3Duser%26sort%3Dname%26status%3Dactive$`)))
	h1 := page.GetByRole("heading", playwright.PageGetByRoleOptions{Level: playwright.Int(1)})
	must(t, expect.Locator(h1).ToHaveText(name))
	must(t, expect.Locator(page.Locator("dd.status")).ToContainText("Active"))
	keyPage := page.URL()
	checkA11y(t, page, "key page")
	screenshot(t, page, "key-page.png")

	must(t, page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "Expire now…"}).Click())
	must(t, expect.Locator(h1).ToHaveText("Expire “"+name+"” now?"))
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Expire now"}).Click())
	must(t, expect.Page(page).ToHaveURL(keyPage))
	must(t, expect.Locator(page.GetByRole("status")).ToHaveText("Expired “"+name+"”."))
	must(t, expect.Locator(page.Locator("dd.status")).ToContainText("Expired just now"))
	must(t, expect.Locator(page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "Expire now…"})).ToHaveCount(0))
	must(t, expect.Locator(page.Locator("ol.history > li").First()).ToContainText("Expired now"))
	checkA11y(t, page, "key page after expiring, with its history")
	screenshot(t, page, "key-page-history.png")

	must(t, page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "Back to keys"}).Click())
	must(t, expect.Page(page).ToHaveURL(view))

	phone := signedInPage(t, env, playwright.BrowserNewContextOptions{
		ColorScheme: playwright.ColorSchemeDark,
		Viewport:    &playwright.Size{Width: 390, Height: 844},
	})
	goTo(t, phone, keyPage)
	checkA11y(t, phone, "key page, dark, phone")
	screenshot(t, phone, "key-page-dark-phone.png")
	if wide, err := phone.Evaluate(`document.documentElement.scrollWidth > document.documentElement.clientWidth`); err != nil || wide != false {
		t.Errorf("the key page scrolls sideways at phone width (%v, %v)", wide, err)
	}

	noJS := signedInPage(t, env, playwright.BrowserNewContextOptions{JavaScriptEnabled: playwright.Bool(false)})
	goTo(t, noJS, keyPage)
	must(t, noJS.GetByRole("link", playwright.PageGetByRoleOptions{Name: "Revoke…"}).Click())
	must(t, noJS.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Revoke key"}).Click())
	must(t, expect.Page(noJS).ToHaveURL(view))
	must(t, expect.Locator(noJS.GetByRole("status")).ToHaveText("Revoked “"+name+"”."))

	goTo(t, phone, keyPage)
	must(t, expect.Locator(phone.Locator("main")).ToContainText("was revoked by admin (you) on "))
	must(t, expect.Locator(phone.Locator("ol.history > li").First()).ToContainText("Revoked"))
	checkA11y(t, phone, "a revoked key's page")
	goTo(t, phone, env.URL+"/keys/abc")
	must(t, expect.Locator(phone.Locator("main")).ToContainText("“abc” is not a key id"))
	checkA11y(t, phone, "a key page with a bad id")
}
