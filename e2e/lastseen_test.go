package e2e

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"

	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/apikeys"
)

// silentKeys are the ids of the device keys a page of every device key
// shows whose device the stand-in has offline since before day, or never
// seen: what seen_before must list.
func silentKeys(t *testing.T, env *portaltest.Env, page playwright.Page, day time.Time) []string {
	t.Helper()
	goTo(t, page, env.URL+"/keys?kind=device&per_page=100")
	shown := rowIDs(t, page)
	var want []string
	for _, k := range env.Sim.Keys() {
		id := strconv.FormatInt(k.ID, 10)
		if slices.Contains(shown, id) && k.DeviceID != 0 && !k.DeviceOnline && (k.DeviceLastSeen == nil || k.DeviceLastSeen.Before(day)) {
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		t.Fatal("the demo has no silent device")
	}
	slices.Sort(want)
	return want
}

func rowIDs(t *testing.T, page playwright.Page) []string {
	t.Helper()
	ids, err := page.Locator("tbody tr").EvaluateAll(`rows => rows.map(r => r.dataset.keyId)`)
	must(t, err)
	var out []string
	for _, id := range ids.([]any) {
		out = append(out, id.(string))
	}
	slices.Sort(out)
	return out
}

// The Last seen column says Online, a relative time (exact on hover) or
// Never for device keys, – for others; typing a day in "Device last seen
// before" lists the keys of devices silent since before it, and the
// address bar keeps the view.
func TestLastSeenColumnAndFilter(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	day := apikeys.StaleSince(time.Now())
	want := silentKeys(t, env, page, day)

	goTo(t, page, env.URL+"/keys?per_page=100")
	header := page.GetByRole("columnheader", playwright.PageGetByRoleOptions{Name: "Last seen"})
	must(t, expect.Locator(header).ToBeVisible())
	cells := page.Locator("tbody td.last-seen")
	must(t, expect.Locator(cells.Filter(playwright.LocatorFilterOptions{HasText: "Online"}).First()).ToBeVisible())
	must(t, expect.Locator(cells.Filter(playwright.LocatorFilterOptions{HasText: "Never"}).First()).ToBeVisible())
	must(t, expect.Locator(cells.Filter(playwright.LocatorFilterOptions{HasText: "–"}).First()).ToBeVisible())
	seen := cells.Locator("time").First()
	must(t, expect.Locator(seen).ToHaveText(regexp.MustCompile(`^\d+ (day|month|year)s? ago$`)))
	// The exact moment on hover, in the reader's zone (app.js), as the other times.
	datetime, err := seen.GetAttribute("datetime")
	must(t, err)
	must(t, expect.Locator(seen).ToHaveAttribute("title", regexp.MustCompile(`\d{4}`)))
	must(t, expect.Locator(seen).Not().ToHaveAttribute("title", datetime))
	checkA11y(t, page, "keys page with Last seen")

	must(t, page.GetByText("More filters").Click())
	field := page.GetByLabel("Device last seen before")
	must(t, expect.Locator(field).ToHaveAccessibleDescription(regexp.MustCompile(`offline since before this day, or never connected`)))
	must(t, field.Fill(day.Format(time.DateOnly)))
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`seen_before=`+day.Format(time.DateOnly))))
	must(t, expect.Locator(page.Locator("tbody tr")).ToHaveCount(len(want)))
	must(t, expect.Locator(page.Locator("#results")).Not().ToHaveClass(regexp.MustCompile(`htmx-(added|settling|swapping)`)))
	if got := rowIDs(t, page); !slices.Equal(got, want) {
		t.Errorf("seen_before lists %v, want %v", got, want)
	}
	// The help still describes the field once htmx has swapped the results.
	must(t, expect.Locator(field).ToHaveAccessibleDescription(regexp.MustCompile(`offline since before this day, or never connected`)))
	texts, err := page.Locator("tbody td.last-seen").AllTextContents()
	must(t, err)
	for _, s := range texts {
		if s = strings.TrimSpace(s); s != "Never" && !strings.HasSuffix(s, " ago") {
			t.Errorf("a silent device's key says last seen %q", s)
		}
	}
	checkA11y(t, page, "keys of silent devices")

	// The URL is the view: reloaded, the same rows and the field filled.
	goTo(t, page, page.URL())
	must(t, expect.Locator(page.GetByLabel("Device last seen before")).ToHaveValue(day.Format(time.DateOnly)))
	if got := rowIDs(t, page); !slices.Equal(got, want) {
		t.Errorf("the bookmarked view lists %v, want %v", got, want)
	}

	// A bad day is marked at the field.
	goTo(t, page, env.URL+"/keys?seen_before=2025-02-30")
	must(t, expect.Locator(page.Locator("#fe-seen_before")).ToHaveText(regexp.MustCompile(`not a date like`)))
	checkA11y(t, page, "a bad seen_before")
}

// Without JavaScript, the same field and Apply give the same view.
func TestSeenBeforeFilterWithoutJavaScript(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	day := apikeys.StaleSince(time.Now()).AddDate(0, 0, -60) // silent for 90 days or more
	want := silentKeys(t, env, signedInPage(t, env), day)
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{JavaScriptEnabled: playwright.Bool(false)})
	must(t, page.GetByText("More filters").Click())
	must(t, page.GetByLabel("Device last seen before").Fill(day.Format(time.DateOnly)))
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Apply"}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys\?seen_before=`+day.Format(time.DateOnly)+`$`)))
	if got := rowIDs(t, page); !slices.Equal(got, want) {
		t.Errorf("seen_before without JavaScript lists %v, want %v", got, want)
	}
	// The exact moment on hover without JavaScript: UTC, as sent.
	if n, _ := page.Locator("tbody td.last-seen time").Count(); n > 0 {
		at := page.Locator("tbody td.last-seen time").First()
		datetime, err := at.GetAttribute("datetime")
		must(t, err)
		must(t, expect.Locator(at).ToHaveAttribute("title", datetime))
	}
}

// On a phone, a device key's row says "Last seen …"; other keys leave the
// cell out rather than show a lone dash.
func TestLastSeenOnAPhone(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{
		Viewport: &playwright.Size{Width: 390, Height: 844}, ColorScheme: playwright.ColorSchemeDark,
	})
	goTo(t, page, env.URL+"/keys?per_page=100")
	device := page.Locator("tbody td.last-seen[data-state=online]").First()
	must(t, expect.Locator(device).ToBeVisible())
	label, err := device.Evaluate(`el => getComputedStyle(el, "::before").content`, nil)
	must(t, err)
	if label != `"Last seen "` {
		t.Errorf("a device's last seen is labelled %v", label)
	}
	must(t, expect.Locator(page.Locator("tbody td.last-seen[data-state=none]").First()).ToBeHidden())
	checkA11y(t, page, "keys page with Last seen, phone, dark")
}
