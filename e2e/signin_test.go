package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
)

// The walking skeleton: sign in, see the keys of every kind, sign out, and
// be sent back to sign-in.
func TestSignInSeeKeysSignOut(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := newPage(t, playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1280, Height: 900}})

	// Opening the keys page signed out lands on sign-in.
	goTo(t, page, env.URL+"/keys")
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/signin$`)))

	signIn(t, page, env.URL, balenasim.DemoEmail, balenasim.DemoPassword)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys$`)))
	table := page.GetByRole("table")
	must(t, expect.Locator(table).ToBeVisible())
	headers := []string{"Select all keys on this page", "Name", "Kind", "Owner", "Description", "Created", "Expires", "Last seen", "ID", "Actions"}
	must(t, expect.Locator(table.GetByRole("columnheader")).ToHaveCount(len(headers)))
	for i, h := range headers {
		// The accessible name, as a screen reader says it: no sort arrows.
		must(t, expect.Locator(table.GetByRole("columnheader").Nth(i)).ToHaveAccessibleName(h))
	}

	now := time.Now()
	var mine, others, expired int
	seen := map[balenasim.KeyKind]bool{}
	for _, k := range env.Sim.Keys() {
		row := page.Locator(fmt.Sprintf(`tr[data-key-id="%d"]`, k.ID))
		if k.Kind == balenasim.KindUser && k.OwnerEmail != balenasim.DemoEmail {
			// Another user's key: balena never shows it, nor may the portal.
			must(t, expect.Locator(row).ToHaveCount(0))
			others++
			continue
		}
		n, err := row.Count()
		must(t, err)
		if n == 0 {
			if k.Kind == balenasim.KindUser {
				t.Errorf("own user key %d (%v) is missing from the table", k.ID, k.Name)
			}
			continue // a fleet the demo admin cannot reach
		}
		seen[k.Kind] = true
		must(t, expect.Locator(row.Locator("td.kind-cell")).ToHaveText(string(k.Kind)))
		if k.Name != nil && *k.Name != "" {
			must(t, expect.Locator(row.Locator("td.name")).ToHaveText(*k.Name))
		}
		if k.Kind == balenasim.KindUser {
			mine++
		}
		switch {
		case k.Kind != balenasim.KindDevice:
			must(t, expect.Locator(row.Locator("td.last-seen")).ToHaveText("–"))
		case k.DeviceOnline:
			must(t, expect.Locator(row.Locator("td.last-seen")).ToHaveText("Online"))
		case k.DeviceLastSeen == nil:
			must(t, expect.Locator(row.Locator("td.last-seen")).ToHaveText("Never"))
		default:
			must(t, expect.Locator(row.Locator("td.last-seen time")).ToHaveAttribute("datetime", k.DeviceLastSeen.UTC().Format(time.RFC3339)))
		}
		if k.Expired(now) {
			must(t, expect.Locator(row.Locator("td.expires")).ToContainText("expired"))
			expired++
		} else if k.ExpiryDate == nil {
			must(t, expect.Locator(row.Locator("td.expires")).ToHaveText("never"))
		}
	}
	for _, kind := range []balenasim.KeyKind{balenasim.KindUser, balenasim.KindProvisioning, balenasim.KindDevice} {
		if !seen[kind] {
			t.Errorf("no %s key in the table", kind)
		}
	}
	if mine == 0 || others == 0 || expired == 0 {
		t.Errorf("the demo data should hold own keys (%d), other users' keys (%d) and expired keys (%d)", mine, others, expired)
	}
	rows, err := table.Locator("tbody tr").Count()
	must(t, err)
	must(t, expect.Locator(page.Locator(".count")).ToHaveText("1–"+strconv.Itoa(rows)+" of "+strconv.Itoa(rows)+" keys"))
	_, err = page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(filepath.Join(artifacts, "keys-page.png")), FullPage: playwright.Bool(true)})
	must(t, err)

	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Sign out"}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/signin\?reason=signed-out$`)))
	must(t, expect.Locator(page.GetByRole("status")).ToHaveText("You have signed out."))

	goTo(t, page, env.URL+"/keys")
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/signin$`)))
}

func TestWrongPasswordSaysSoWith401(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := newPage(t)
	goTo(t, page, env.URL+"/signin")
	form := page.Locator("#signin-password")
	must(t, form.GetByLabel("Email").Fill(balenasim.DemoEmail))
	must(t, form.GetByLabel("Password").Fill("wrong-password"))
	res, err := page.ExpectResponse(env.URL+"/signin", func() error {
		return form.GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Sign in"}).Click()
	})
	must(t, err)
	if res.Status() != 401 {
		t.Errorf("wrong password answered %d, want 401", res.Status())
	}
	must(t, expect.Locator(page.GetByRole("alert")).ToHaveText("Wrong email or password."))
	must(t, expect.Locator(form.GetByLabel("Email")).ToHaveValue(balenasim.DemoEmail))
	must(t, expect.Locator(form.GetByLabel("Password")).ToHaveValue(""))
}
