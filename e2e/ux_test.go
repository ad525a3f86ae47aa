package e2e

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/playwright-community/playwright-go"

	"github.com/keyportal/keyportal/apiclient/balenasim"
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

// A header sort is the sort of the view: the Sort control shows it, and
// the next filter change keeps it.
func TestHeaderSortIsKeptByTheNextFilterChange(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	must(t, page.GetByRole("columnheader", playwright.PageGetByRoleOptions{Name: "Name"}).GetByRole("link").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys\?sort=name$`)))
	must(t, expect.Locator(page.GetByLabel("Sort")).ToHaveValue("name"))
	must(t, page.GetByRole("checkbox", playwright.PageGetByRoleOptions{Name: "User", Exact: playwright.Bool(true)}).Check())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys\?kind=user&sort=name$`)))
	must(t, expect.Locator(page.GetByRole("columnheader", playwright.PageGetByRoleOptions{Name: "Name"})).ToHaveAttribute("aria-sort", "ascending"))
	// Clicking it again sorts descending, and the control follows again.
	must(t, page.GetByRole("columnheader", playwright.PageGetByRoleOptions{Name: "Name"}).GetByRole("link").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys\?kind=user&sort=-name$`)))
	must(t, expect.Locator(page.GetByLabel("Sort")).ToHaveValue("-name"))
	must(t, page.GetByLabel("Search").Fill("a"))
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys\?kind=user&q=a&sort=-name$`)))
}

// A bad filter chosen in the form (htmx swaps only the results) is marked
// at its field, and the banner speaks of these filters, not of a link.
func TestATypedBadFilterIsMarkedInPlace(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	must(t, page.GetByText("More filters").Click())
	must(t, page.GetByLabel("Created from").Fill("2026-05-01"))
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`created_after=2026-05-01`)))
	to := page.GetByLabel("Created to")
	must(t, to.Fill("2026-01-01"))
	message := page.Locator("#fe-created_before")
	must(t, expect.Locator(message).ToHaveText("“Created to” is before “Created from”."))
	must(t, expect.Locator(to).ToHaveAttribute("aria-invalid", "true"))
	must(t, expect.Locator(to).ToHaveAccessibleDescription("“Created to” is before “Created from”."))
	must(t, expect.Locator(page.Locator("#results .flash-warning")).ToHaveText("Some of these filters are not valid and were ignored; see the marked fields."))
	checkA11y(t, page, "a typed bad filter")
	// Fixing it clears the mark.
	must(t, to.Fill("2026-12-01"))
	must(t, expect.Locator(message).ToHaveText(""))
	must(t, expect.Locator(to).Not().ToHaveAttribute("aria-invalid", "true"))
	must(t, expect.Locator(page.Locator("#results .flash-warning")).ToHaveCount(0))

	// A link opened with a bad value speaks of the link.
	goTo(t, page, env.URL+"/keys?created_after=2026-05-01&created_before=2026-01-01")
	must(t, expect.Locator(page.Locator("#results .flash-warning")).ToHaveText("Some filters in this link are not valid and were ignored; see the marked fields."))
	must(t, expect.Locator(page.Locator("#fe-created_before")).ToHaveText("“Created to” is before “Created from”."))
}

// "Within (days)" out of range is not blocked silently by the browser: the
// field says what is wrong.
func TestWithinOutOfRangeSaysSoAtTheField(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	for _, js := range []bool{true, false} {
		page := signedInPage(t, env, playwright.BrowserNewContextOptions{JavaScriptEnabled: playwright.Bool(js)})
		goTo(t, page, env.URL+"/keys?status=expiring")
		within := page.GetByLabel("Within (days)")
		for _, v := range []string{"0", "5000"} {
			must(t, within.Fill(v))
			if js {
				must(t, within.Press("Tab"))
			} else {
				must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Apply"}).Click())
			}
			must(t, expect.Locator(page.Locator("#fe-within")).ToHaveText("Within must be a whole number of days from 1 to 3650."))
			must(t, expect.Locator(page.GetByLabel("Within (days)")).ToHaveValue(v))
		}
		must(t, page.GetByLabel("Within (days)").Fill("30"))
		if js {
			must(t, page.GetByLabel("Within (days)").Press("Tab"))
		} else {
			must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Apply"}).Click())
		}
		must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys\?status=expiring&within=30$`)))
		must(t, expect.Locator(page.Locator("#fe-within")).ToHaveText(""))
	}
}

// The keyboard path of the row actions that change a row in place: focus
// comes back to the row's ⋯ button after Escape or Save in the in-place
// editor and after Expire now and Clear expiry, never to <body>.
func TestRowActionsGiveFocusBackToTheRowMenu(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	goTo(t, page, env.URL+"/keys?kind=user&status=active&sort=name")
	row := page.Locator("tbody tr").First()
	id, err := row.GetAttribute("data-key-id")
	must(t, err)
	this := page.Locator(`tr[data-key-id="` + id + `"]`)
	menuButton := this.Locator("summary")
	// A person reads the row before pressing a key in it; the test waits
	// until htmx has settled the swapped row, so that its handlers are on.
	settled := func() {
		t.Helper()
		must(t, expect.Locator(this).Not().ToHaveClass(regexp.MustCompile(`htmx-(added|settling|swapping)`)))
	}
	openItem := func(name string, role playwright.AriaRole) {
		t.Helper()
		must(t, menuButton.Focus())
		must(t, page.Keyboard().Press("Enter"))
		item := this.GetByRole(role, playwright.LocatorGetByRoleOptions{Name: name, Exact: playwright.Bool(true)})
		must(t, expect.Locator(item).ToBeVisible())
		must(t, item.Focus())
		must(t, page.Keyboard().Press("Enter"))
	}

	openItem("Edit", *playwright.AriaRoleLink)
	name := this.GetByLabel("Name")
	must(t, expect.Locator(name).ToBeFocused())
	settled()
	must(t, page.Keyboard().Press("Escape"))
	must(t, expect.Locator(this.Locator("td.name")).ToBeVisible())
	must(t, expect.Locator(menuButton).ToBeFocused())

	openItem("Edit", *playwright.AriaRoleLink)
	must(t, expect.Locator(name).ToBeFocused())
	settled()
	must(t, page.Keyboard().Type(" 2"))
	must(t, page.Keyboard().Press("Enter"))
	must(t, expect.Locator(this.Locator("td.name")).ToContainText(" 2"))
	must(t, expect.Locator(menuButton).ToBeFocused())

	// Expire now and Clear expiry ask first, in the row, with the answer
	// focused; Escape keeps the key as it was and gives focus back too.
	confirm := func(item, button string) {
		t.Helper()
		openItem(item, *playwright.AriaRoleLink)
		yes := this.GetByRole("button", playwright.LocatorGetByRoleOptions{Name: button, Exact: playwright.Bool(true)})
		must(t, expect.Locator(yes).ToBeFocused())
		settled()
		must(t, page.Keyboard().Press("Enter"))
	}
	openItem("Expire now…", *playwright.AriaRoleLink)
	must(t, expect.Locator(this.GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Expire now", Exact: playwright.Bool(true)})).ToBeFocused())
	settled()
	must(t, page.Keyboard().Press("Escape"))
	must(t, expect.Locator(menuButton).ToBeFocused())
	must(t, expect.Locator(this.Locator("td.expires")).Not().ToContainText("expired"))

	confirm("Expire now…", "Expire now")
	must(t, expect.Locator(this.Locator("td.expires")).ToContainText("expired"))
	must(t, expect.Locator(menuButton).ToBeFocused())

	confirm("Clear expiry…", "Clear expiry")
	must(t, expect.Locator(this.Locator("td.expires")).ToHaveText("never"))
	must(t, expect.Locator(menuButton).ToBeFocused())
}

// menuInsideViewport opens the menu under summary and checks that every
// item of it lies wholly inside the viewport.
func menuInsideViewport(t *testing.T, page playwright.Page, summary playwright.Locator, what string) {
	t.Helper()
	must(t, summary.Click())
	items := summary.Locator("xpath=..").Locator(".menu a, .menu button")
	must(t, expect.Locator(items.First()).ToBeVisible())
	count, err := items.Count()
	must(t, err)
	for j := range count {
		label, _ := items.Nth(j).TextContent()
		if err := expect.Locator(items.Nth(j)).ToBeInViewport(playwright.LocatorAssertionsToBeInViewportOptions{Ratio: playwright.Float(1)}); err != nil {
			box, _ := items.Nth(j).BoundingBox()
			t.Errorf("%s: item %q at %+v is not inside the viewport", what, label, box)
			break // the rest of this menu is likely out too, and each one waits
		}
	}
	must(t, page.Keyboard().Press("Escape"))
}

// Every menu (each row's, the header's) stays inside the viewport, on a
// phone and on a desktop, opening upwards near the bottom of the page;
// on a phone the create form's header menu too.
func TestMenusStayInsideTheViewport(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	for _, size := range []playwright.Size{{Width: 390, Height: 844}, {Width: 1280, Height: 800}, {Width: 800, Height: 600}} {
		page := signedInPage(t, env, playwright.BrowserNewContextOptions{Viewport: &size})
		for _, view := range []string{"/keys", "/keys?kind=user"} {
			goTo(t, page, env.URL+view)
			rows := page.Locator("tbody tr")
			n, err := rows.Count()
			must(t, err)
			for _, i := range []int{0, n / 2, n - 1} {
				menuInsideViewport(t, page, rows.Nth(i).Locator("summary"), fmt.Sprintf("%s at %dx%d, row %d of %d", view, size.Width, size.Height, i+1, n))
			}
			menuInsideViewport(t, page, page.Locator("details.account-menu summary"), fmt.Sprintf("%s at %dx%d, header menu", view, size.Width, size.Height))
		}
		goTo(t, page, env.URL+"/keys/new")
		menuInsideViewport(t, page, page.Locator("details.account-menu summary"), fmt.Sprintf("create form at %dx%d, header menu", size.Width, size.Height))
		if size.Width == 390 {
			checkA11y(t, page, "create form, phone")
			goTo(t, page, env.URL+"/keys")
			must(t, page.Locator("tbody tr").Last().Locator("summary").Click())
			screenshot(t, page, "keys-phone-menu.png")
		}
	}
}

// noInlineStyles fails the test when the page holds a <style> element or
// a style attribute written as markup: what a strict CSP refuses.
func noInlineStyles(t *testing.T, page playwright.Page, what string) {
	t.Helper()
	n, err := page.Evaluate(`() => document.querySelectorAll("style, [style]:not(.menu-float)").length`)
	must(t, err)
	if n != 0 {
		t.Errorf("%s: %v inline style elements or attributes", what, n)
	}
}

// The flows that were seen to log CSP violations ("Applying inline style
// violates…"): an empty create form submitted, of each kind, and going
// back and forward after paging (htmx restores the view from the server).
// The page fails the test on any CSP violation or console error (newPage).
func TestCreateErrorsAndHistoryRunWithoutCSPViolations(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page, violations := openPage(t, true, phone)
	signIn(t, page, env.URL, balenasim.DemoEmail, balenasim.DemoPassword)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys$`)))
	for _, kind := range []string{"User key", "Provisioning key", "Device key"} {
		goTo(t, page, env.URL+"/keys/new")
		must(t, page.GetByLabel(kind).Check())
		must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Create key"}).Click())
		must(t, expect.Locator(page.Locator("#create .field-error").First()).ToBeVisible())
		noInlineStyles(t, page, "empty "+kind)
	}
	goTo(t, page, env.URL+"/keys?per_page=10")
	next := page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "Next ›"})
	must(t, next.Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`page=2`)))
	must(t, next.Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`page=3`)))
	for _, want := range []string{`page=2`, `per_page=10$`} {
		_, err := page.GoBack()
		must(t, err)
		must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(want)))
		must(t, expect.Locator(page.Locator("#results")).ToHaveAttribute("aria-busy", "false"))
	}
	_, err := page.GoForward()
	must(t, err)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`page=2`)))
	must(t, expect.Locator(page.GetByText("Page 2 of")).ToBeVisible())
	noInlineStyles(t, page, "after history")
	_, _ = page.Evaluate("() => 0") // let reports in flight arrive
	select {
	case v := <-violations:
		t.Errorf("CSP violation: %s", v)
	default:
	}
}

// The README's screenshot of the keys page, as the page is now: make e2e
// writes it to e2e/artifacts/screenshot-keys.png, to be copied to docs/.
func TestREADMEScreenshot(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1280, Height: 800},
		ColorScheme: playwright.ColorSchemeLight})
	must(t, expect.Locator(page.Locator("tbody tr").First()).ToBeVisible())
	screenshot(t, page, "screenshot-keys.png")
}
