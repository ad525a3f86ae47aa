package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"

	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

// openOverview follows the header's link from the keys page.
func openOverview(t *testing.T, page playwright.Page) {
	t.Helper()
	nav := page.GetByRole("navigation", playwright.PageGetByRoleOptions{Name: "Main"})
	must(t, expect.Locator(nav.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Keys"})).ToHaveAttribute("aria-current", "page"))
	must(t, nav.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Overview"}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/overview$`)))
	must(t, expect.Locator(nav.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Overview"})).ToHaveAttribute("aria-current", "page"))
}

// followCount opens a count's link and checks that the keys view it opens
// says it holds that many keys, then comes back.
func followCount(t *testing.T, page playwright.Page, link playwright.Locator, what string) {
	t.Helper()
	n, err := link.GetAttribute("data-count")
	must(t, err)
	want := "No keys"
	if n != "0" {
		want = " of " + withCommas(n) + " keys"
	}
	must(t, link.Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys`)))
	must(t, expect.Locator(page.Locator("#results .count")).ToContainText(want))
	_, err = page.GoBack()
	must(t, err)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/overview$`)))
	t.Logf("%s: %s keys, as its view says", what, n)
}

// openListedKey opens the first key a section lists: its own page, whose
// "Back to keys" is the section's view; then comes back to the overview.
func openListedKey(t *testing.T, page playwright.Page, section playwright.Locator) {
	t.Helper()
	key := section.Locator(".keylist li a").First()
	href, err := key.GetAttribute("href")
	must(t, err)
	if !regexp.MustCompile(`^[^?]*/keys/[0-9]+\?return=`).MatchString(href) {
		t.Fatalf("a listed key links to %s, not its own page", href)
	}
	view, err := section.Locator(".section-count a").GetAttribute("href")
	must(t, err)
	must(t, key.Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(regexp.QuoteMeta(href)+"$")))
	must(t, expect.Locator(page.GetByRole("region", playwright.PageGetByRoleOptions{Name: "Details"})).ToBeVisible())
	must(t, page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "Back to keys"}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(regexp.QuoteMeta(view)+"$")))
	_, err = page.GoBack()
	must(t, err)
	_, err = page.GoBack()
	must(t, err)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/overview$`)))
}

// asInDemo is the portal as make demo runs it: with a 90-day lifetime
// policy, so that the overview has every section.
var asInDemo = portaltest.Options{Config: func(c *config.Config) { c.PolicyMaxLifetime = 90 * 24 * time.Hour }}

func withCommas(s string) string {
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// The admin of make demo opens the overview from the header, and its
// counts are the views they link to: a few clicked in the table, one in
// the chart's text alternative, one bar of the chart and the
// never-expiring keys' full view. The chart has a name and its table.
func TestOverviewCountsMatchTheViewsTheyOpen(t *testing.T) {
	env := portaltest.Start(t, asInDemo)
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1280, Height: 900}})
	openOverview(t, page)

	for _, row := range []struct{ id, kind string }{{"expiring-7", "user"}, {"expiring-30", "provisioning"}, {"never", "device"}, {"expired", "user"}, {"active", "device"}} {
		followCount(t, page, page.Locator("#ov-"+row.id+" td[data-kind="+row.kind+"] a"), row.id+" "+row.kind)
	}
	chart := page.GetByRole("group", playwright.PageGetByRoleOptions{Name: "Keys expiring per week for the next 12 weeks, stacked by kind"})
	must(t, expect.Locator(chart).ToBeVisible())
	must(t, expect.Locator(page.Locator("#ov-chart-table tbody tr")).ToHaveCount(12))
	bar := chart.Locator("a").First()
	label, err := bar.GetAttribute("aria-label")
	must(t, err)
	n := strings.Fields(label)[0]
	must(t, bar.Click())
	must(t, expect.Locator(page.Locator("#results .count")).ToContainText(" of "+n+" keys"))
	_, err = page.GoBack()
	must(t, err)
	followCount(t, page, page.Locator("#ov-chart-table tbody td a[data-count]:not([data-count='0'])").First(), "a week of the chart's table")
	followCount(t, page, page.Locator(".section-count a").First(), "keys that never expire")
	stale := page.Locator("section", playwright.PageLocatorOptions{Has: page.GetByRole("heading", playwright.PageGetByRoleOptions{Name: "Device keys of devices silent for 30 days or more"})})
	must(t, expect.Locator(stale.Locator(".keylist li").First()).ToBeVisible())
	openListedKey(t, page, stale)
	followCount(t, page, stale.Locator(".section-count a"), "device keys of devices silent for 30 days")
	breach := page.Locator("section", playwright.PageLocatorOptions{Has: page.GetByRole("heading", playwright.PageGetByRoleOptions{Name: "Keys that break the lifetime policy"})})
	followCount(t, page, breach.Locator(".section-count a"), "keys that break the policy")
	noInlineStyles(t, page, "overview")
	checkA11y(t, page, "overview")
}

// On a phone, in the dark, the overview fits the width (no sideways
// scrolling) and passes axe; without JavaScript it is all there and its
// links work.
func TestOverviewOnAPhoneInTheDarkAndWithoutJavaScript(t *testing.T) {
	env := portaltest.Start(t, asInDemo)
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{
		ColorScheme: playwright.ColorSchemeDark,
		Viewport:    &playwright.Size{Width: 390, Height: 844},
	})
	openOverview(t, page)
	wide, err := page.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`)
	must(t, err)
	if wide != false {
		w, _ := page.Evaluate(`[document.documentElement.scrollWidth, window.innerWidth]`)
		t.Errorf("the overview scrolls sideways on a phone: %v", w)
	}
	bg, err := page.Evaluate(`getComputedStyle(document.querySelector(".panel")).backgroundColor`)
	must(t, err)
	if bg != "rgb(21, 27, 35)" {
		t.Errorf("dark theme not applied: panel background %v", bg)
	}
	fill, err := page.Evaluate(`getComputedStyle(document.querySelector(".chart .axis")).fill`)
	must(t, err)
	if fill != "rgb(145, 152, 161)" {
		t.Errorf("chart labels are not in the dark theme's muted colour: %v", fill)
	}
	checkA11y(t, page, "overview, dark, phone")
	screenshot(t, page, "overview-dark-phone.png")

	noJS := signedInPage(t, env, playwright.BrowserNewContextOptions{JavaScriptEnabled: playwright.Bool(false)})
	openOverview(t, noJS)
	must(t, expect.Locator(noJS.Locator("figure.chart svg a").First()).ToBeVisible())
	must(t, expect.Locator(noJS.Locator("#ov-chart-table")).ToBeVisible())
	followCount(t, noJS, noJS.Locator("#ov-expiring-30 td[data-kind=user] a"), "expiring within 30 days, user, without JavaScript")
}

// The README's screenshot of the overview: make e2e writes it to
// e2e/artifacts/screenshot-overview.png, to be copied to docs/.
func TestREADMEScreenshotOverview(t *testing.T) {
	env := portaltest.Start(t, asInDemo)
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1280, Height: 800},
		ColorScheme: playwright.ColorSchemeLight})
	openOverview(t, page)
	must(t, expect.Locator(page.Locator("figure.chart > svg")).ToBeVisible())
	screenshot(t, page, "screenshot-overview.png")
}
