package e2e

import (
	"testing"

	"github.com/playwright-community/playwright-go"

	"github.com/keyportal/keyportal/handlers/portaltest"
)

var phone = playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 390, Height: 844}}

// On a phone the table's header row is hidden: each time and the id say
// what they are, and the bulk buttons stay together on one line.
func TestPhoneRowsLabelTheirValuesAndBulkButtonsStayTogether(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env, phone)
	row := page.Locator("tbody tr").First()
	for cell, want := range map[string]string{"td.created": `"Created "`, "td.expires": `"Expires "`, "td.key-id": `"ID "`} {
		got, err := row.Locator(cell).Evaluate(`el => getComputedStyle(el, "::before").content`, nil)
		must(t, err)
		if got != want {
			t.Errorf("%s is labelled %v, want %s", cell, got, want)
		}
	}
	bulk := page.Locator("#bulk")
	expire, err := bulk.GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Expire now"}).BoundingBox()
	must(t, err)
	revoke, err := bulk.GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Revoke"}).BoundingBox()
	must(t, err)
	if expire.Y != revoke.Y {
		t.Errorf("Revoke wraps onto its own line: Expire now at y=%v, Revoke at y=%v", expire.Y, revoke.Y)
	}
	checkA11y(t, page, "keys page, phone")
}
