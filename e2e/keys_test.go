package e2e

import (
	_ "embed"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
)

//go:embed testdata/axe.min.js
var axeSource string

// checkA11y runs axe-core's WCAG 2.1 A and AA rules on the page as it is
// now and fails the test on any violation. axe runs as the page's script:
// on a context with JavaScript disabled the evaluation never returns, so
// check such pages from a context that has it.
func checkA11y(t *testing.T, page playwright.Page, what string) {
	t.Helper()
	if _, err := page.Evaluate(axeSource); err != nil {
		t.Fatalf("load axe: %v", err)
	}
	res, err := page.Evaluate(`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
		.then(r => r.violations.map(v => v.id + ": " + v.help + " [" + v.nodes.map(n => n.target.join(" ")).join(", ") + "]"))`)
	must(t, err)
	if list, _ := res.([]any); len(list) > 0 {
		for _, v := range list {
			t.Errorf("axe, %s: %v", what, v)
		}
	}
}

func signedInPage(t *testing.T, env *portaltest.Env, opts ...playwright.BrowserNewContextOptions) playwright.Page {
	t.Helper()
	page := newPage(t, opts...)
	signIn(t, page, env.URL, balenasim.DemoEmail, balenasim.DemoPassword)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys$`)))
	return page
}

func secretOf(env *portaltest.Env, name string) string {
	for _, k := range env.Sim.Keys() {
		if k.Name != nil && *k.Name == name {
			return k.Secret
		}
	}
	return ""
}

func TestCreateProvisioningKeySecretShownOnce(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	checkA11y(t, page, "keys page")

	must(t, page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "Create key"}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys/new$`)))
	checkA11y(t, page, "create form")
	screenshot(t, page, "create-form.png")
	chooseProvisioningKey(t, page)
	must(t, page.GetByLabel("Name").Fill("e2e provisioning"))
	must(t, page.GetByLabel("Description").Fill("made in Chromium"))
	_, err := page.GetByLabel("Expires").SelectOption(playwright.SelectOptionValues{Labels: &[]string{"7 days"}})
	must(t, err)
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Create key"}).Click())

	secretBox := page.GetByLabel("Your new key")
	must(t, expect.Locator(secretBox).ToBeVisible())
	secret := secretOf(env, "e2e provisioning")
	if secret == "" {
		t.Fatal("balena has no such key")
	}
	must(t, expect.Locator(secretBox).ToHaveValue(secret))
	must(t, expect.Locator(page.GetByRole("alert")).ToContainText("will not be shown again"))
	must(t, page.Context().GrantPermissions([]string{"clipboard-read", "clipboard-write"}))
	copyButton := page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Copy"})
	must(t, copyButton.Click())
	must(t, expect.Locator(page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Copied"})).ToBeVisible())
	clip, err := page.Evaluate(`navigator.clipboard.readText()`)
	must(t, err)
	if clip != secret {
		t.Errorf("the Copy button put %q on the clipboard", clip)
	}
	checkA11y(t, page, "new key")
	screenshot(t, page, "key-created.png")

	// htmx swapped the card in place: the address is still the form's, so
	// reloading gives an empty form, and going back never shows the secret.
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys/new$`)))
	_, err = page.Reload()
	must(t, err)
	must(t, expect.Locator(page.GetByLabel("Your new key")).ToHaveCount(0))
	goTo(t, page, env.URL+"/keys")
	_, err = page.GoBack()
	must(t, err)
	must(t, expect.Locator(page.GetByLabel("Your new key")).ToHaveCount(0))
	content, err := page.Content()
	must(t, err)
	stored, err := page.Evaluate(`JSON.stringify(localStorage) + JSON.stringify(sessionStorage)`)
	must(t, err)
	if strings.Contains(content, secret) || strings.Contains(fmt.Sprint(stored), secret) {
		t.Error("the secret survives in the page or in browser storage")
	}
	goTo(t, page, env.URL+"/keys?q=e2e+provisioning")
	must(t, expect.Locator(page.GetByRole("cell", playwright.PageGetByRoleOptions{Name: "e2e provisioning", Exact: playwright.Bool(true)})).ToBeVisible())
}

func TestCreateFormKeepsInputAndSaysWhatIsWrong(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	goTo(t, page, env.URL+"/keys/new?kind=user")
	must(t, page.GetByLabel("Description").Fill("no name given"))
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Create key"}).Click())
	must(t, expect.Locator(page.GetByText("A user key needs a name")).ToBeVisible())
	must(t, expect.Locator(page.GetByLabel("Description")).ToHaveValue("no name given"))
	checkA11y(t, page, "create form with an error")
}

func TestExpireAndRevokeFromTheRowMenu(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	goTo(t, page, env.URL+"/keys?kind=user&status=active&sort=name")
	row, name := firstRow(t, page)

	must(t, row.GetByRole("group").Or(row.Locator("summary")).First().Click())
	checkA11y(t, page, "row menu")
	screenshot(t, page, "row-menu.png")
	must(t, row.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Expire now…"}).Click())
	// It asks first, in the row, naming the key; nothing changes until then.
	ask := page.Locator("tbody tr.editing")
	must(t, expect.Locator(ask).ToContainText("Expire “"+name+"” now?"))
	checkA11y(t, page, "expire confirmation in the row")
	if secretOf(env, name) == "" || whoami(t, env, secretOf(env, name)) != http.StatusOK {
		t.Error("asking expired the key")
	}
	must(t, ask.GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Expire now"}).Click())
	// The row is replaced in place, still on the same filtered view.
	expired := page.Locator("tbody tr", playwright.PageLocatorOptions{HasText: name})
	must(t, expect.Locator(expired.Locator("td.expires")).ToContainText("expired"))
	must(t, expect.Locator(page.Locator("#alerts").GetByRole("status")).ToHaveText("Expired “"+name+"”."))
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`status=active`)))

	must(t, expired.Locator("summary").Click())
	must(t, expired.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Revoke…"}).Click())
	must(t, expect.Locator(page.GetByRole("heading", playwright.PageGetByRoleOptions{Level: playwright.Int(1)})).ToHaveText("Revoke “"+name+"”?"))
	checkA11y(t, page, "revoke confirmation")
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Revoke key"}).Click())
	must(t, expect.Locator(page.GetByRole("status")).ToHaveText("Revoked “"+name+"”."))
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys\?.*kind=user`)))
	must(t, expect.Locator(page.Locator("tbody tr", playwright.PageLocatorOptions{HasText: name})).ToHaveCount(0))
	if secretOf(env, name) != "" {
		t.Error("the stand-in still has the key")
	}
}

// A window that shrinks under an open row menu (a toolbar appears, a
// tablet turns; Playwright's full-page screenshots do it too) moves the
// menu back into view; it does not close it, as it did when the shrink put
// the ⋯ button below the window's edge.
func TestRowMenuStaysOpenWhenTheWindowShrinks(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	goTo(t, page, env.URL+"/keys?kind=user&status=active&sort=name")
	row, _ := firstRow(t, page)
	button := row.Locator("summary")
	must(t, button.Click())
	expire := row.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Expire now…"})
	must(t, expect.Locator(expire).ToBeInViewport())
	box, err := button.BoundingBox()
	must(t, err)
	must(t, page.SetViewportSize(1280, int(box.Y)-10)) // the button is below the window's edge
	must(t, expect.Locator(expire).ToBeInViewport(playwright.LocatorAssertionsToBeInViewportOptions{Ratio: playwright.Float(1)}))
	must(t, expire.Click())
	must(t, expect.Locator(page.Locator("tbody tr.editing")).ToBeVisible())
}

func TestFiltersLiveInTheURL(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)

	// Typing filters in place (htmx) and the address bar follows.
	must(t, page.GetByRole("checkbox", playwright.PageGetByRoleOptions{Name: "Device", Exact: playwright.Bool(true)}).Check())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`kind=device`)))
	must(t, page.GetByLabel("Search").Fill("gw"))
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`q=gw`)))
	must(t, expect.Locator(page.Locator("tbody tr").First()).ToContainText("gw"))
	shown, err := page.Locator("tbody tr").AllTextContents()
	must(t, err)
	link := page.URL()

	// A copied link opens the same view in another browser.
	other := signedInPage(t, env)
	goTo(t, other, link)
	again, err := other.Locator("tbody tr").AllTextContents()
	must(t, err)
	if strings.Join(again, "|") != strings.Join(shown, "|") {
		t.Errorf("the copied link shows other rows:\n%v\n%v", again, shown)
	}

	// Sorting by a header, and the kind column agrees with the filter.
	must(t, page.GetByRole("columnheader", playwright.PageGetByRoleOptions{Name: "Name"}).GetByRole("link").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`sort=name`)))
	kinds, err := page.Locator("tbody td.kind-cell").AllTextContents()
	must(t, err)
	for _, k := range kinds {
		if strings.TrimSpace(k) != "device" {
			t.Errorf("kind=device shows a %q key", k)
		}
	}
}

func TestFiltersWorkWithoutJavaScript(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{JavaScriptEnabled: playwright.Bool(false)})
	must(t, page.GetByRole("checkbox", playwright.PageGetByRoleOptions{Name: "Provisioning", Exact: playwright.Bool(true)}).Check())
	_, err := page.GetByLabel("Sort").SelectOption(playwright.SelectOptionValues{Values: &[]string{"name"}})
	must(t, err)
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Apply"}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`kind=provisioning`)))
	u, err := url.Parse(page.URL())
	must(t, err)
	if u.Query().Get("sort") != "name" {
		t.Errorf("sort not in the URL: %s", page.URL())
	}
	names, err := page.Locator("tbody td.name").AllTextContents()
	must(t, err)
	kinds, err := page.Locator("tbody td.kind-cell").AllTextContents()
	must(t, err)
	for i, k := range kinds {
		if strings.TrimSpace(k) != "provisioning" {
			t.Errorf("row %d (%s) is a %s key", i, names[i], k)
		}
	}
	for i := 1; i < len(names); i++ {
		a, b := strings.TrimSpace(names[i-1]), strings.TrimSpace(names[i])
		if a != "(unnamed)" && b != "(unnamed)" && strings.ToLower(a) > strings.ToLower(b) {
			t.Errorf("not sorted by name: %q before %q", a, b)
		}
	}
	// Without JavaScript, hovering a time still shows the exact moment (UTC).
	created := page.Locator("tbody td.created time").First()
	datetime, err := created.GetAttribute("datetime")
	must(t, err)
	must(t, expect.Locator(created).ToHaveAttribute("title", datetime))
}

func TestDarkThemeAndPhoneLayoutAreAccessible(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{
		ColorScheme: playwright.ColorSchemeDark,
		Viewport:    &playwright.Size{Width: 390, Height: 844},
	})
	checkA11y(t, page, "keys page, dark, phone")
	screenshot(t, page, "keys-dark-phone.png")
	bg, err := page.Evaluate(`getComputedStyle(document.body).backgroundColor`)
	must(t, err)
	if bg != "rgb(13, 17, 23)" {
		t.Errorf("dark theme not applied: body background %v", bg)
	}
	goTo(t, page, env.URL+"/keys/new")
	checkA11y(t, page, "create form, dark, phone")
}

func TestBulkExpireReportsAPartialFailure(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	goTo(t, page, env.URL+"/keys?kind=device&status=active&sort=name")
	boxes := page.Locator("tbody td.select input")
	for i := range 4 {
		must(t, boxes.Nth(i).Check())
	}
	must(t, page.Locator("#bulk").GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Expire now"}).Click())
	must(t, expect.Locator(page.GetByRole("heading", playwright.PageGetByRoleOptions{Level: playwright.Int(1)})).ToHaveText("Expire 4 keys?"))
	checkA11y(t, page, "bulk confirmation")

	// Another tab expires the first two of them, one by one; then balena
	// fails the bulk change (one write for all four). The result reports
	// each key as balena holds it afterwards.
	other, err := page.Context().NewPage()
	must(t, err)
	goTo(t, other, env.URL+"/keys?kind=device&status=active&sort=name")
	for i := range 2 {
		row := other.Locator("tbody tr").Nth(i)
		must(t, row.Locator("summary").Click())
		must(t, row.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Expire now…"}).Click())
		must(t, other.Locator("tbody tr.editing").GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Expire now"}).Click())
		must(t, expect.Locator(row.Locator("td.expires")).ToContainText("expired"))
	}
	must(t, other.Close())
	env.Sim.SetFaults(balenasim.Faults{ErrorRate: 1, Routes: []string{"PATCH /v7/api_key"}})
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Expire 4 keys"}).Click())
	must(t, expect.Locator(page.GetByRole("alert")).ToContainText("could not be changed"))
	failed, err := page.Locator("tbody tr").Count()
	must(t, err)
	if failed == 0 || failed == 4 {
		t.Errorf("want a partial failure, %d of 4 failed", failed)
	}
	heading := fmt.Sprintf("Expired %d keys", 4-failed)
	if failed == 3 {
		heading = "Expired 1 key"
	}
	must(t, expect.Locator(page.GetByRole("heading", playwright.PageGetByRoleOptions{Level: playwright.Int(1)})).ToHaveText(heading))
	checkA11y(t, page, "bulk result")
	screenshot(t, page, "bulk-result.png")
	must(t, page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "Back to keys"}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`kind=device`)))
}

func TestExportDownloadsTheView(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	goTo(t, page, env.URL+"/keys?kind=provisioning&sort=name")
	names, err := page.Locator("tbody td.name").AllTextContents()
	must(t, err)
	dl, err := page.ExpectDownload(func() error {
		return page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "CSV"}).Click()
	})
	must(t, err)
	path, err := dl.Path()
	must(t, err)
	body, err := os.ReadFile(path)
	must(t, err)
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if len(lines) != len(names)+1 {
		t.Fatalf("export has %d rows, the view %d:\n%s", len(lines)-1, len(names), body)
	}
	for i, n := range names {
		if n = strings.TrimSpace(n); n != "(unnamed)" && !strings.Contains(lines[i+1], n) {
			t.Errorf("row %d: %q lacks %q", i+1, lines[i+1], n)
		}
	}
}

func TestRotateFromTheRowMenu(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	goTo(t, page, env.URL+"/keys?kind=provisioning&status=active&sort=name")
	row, name := firstRow(t, page)
	must(t, row.Locator("summary").Click())
	must(t, row.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Rotate…"}).Click())
	must(t, expect.Locator(page.GetByRole("heading", playwright.PageGetByRoleOptions{Level: playwright.Int(1)})).ToContainText("Rotate"))
	checkA11y(t, page, "rotate form")
	_, err := page.GetByLabel("The old key stops working").SelectOption(playwright.SelectOptionValues{Labels: &[]string{"Now"}})
	must(t, err)
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Rotate key"}).Click())
	must(t, expect.Locator(page.GetByLabel("Your new key")).ToBeVisible())
	must(t, expect.Locator(page.GetByRole("status")).ToHaveText("The old key has stopped working."))
	secret, err := page.GetByLabel("Your new key").InputValue()
	must(t, err)
	if status := whoami(t, env, secret); status != http.StatusOK {
		t.Errorf("balena answers the shown secret with %d", status)
	}
	must(t, page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "Done"}).Click())
	goTo(t, page, env.URL+"/keys?kind=provisioning&sort=name&q="+url.QueryEscape(name))
	must(t, expect.Locator(page.Locator("tbody td.expires", playwright.PageLocatorOptions{HasText: "expired"})).ToHaveCount(1))
}

// whoami is the status balena gives a request signed with token.
func whoami(t *testing.T, env *portaltest.Env, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, env.SimURL+"/actor/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	must(t, err)
	res.Body.Close()
	return res.StatusCode
}

func TestCreateUserAndDeviceKeys(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	var device, deviceName, fleet string
	for _, k := range env.Sim.Keys() {
		if k.Kind == balenasim.KindDevice && k.FleetSlug != "" {
			device, deviceName, fleet = k.DeviceUUID, k.DeviceName, k.FleetSlug
		}
	}
	for _, c := range []struct{ kind, label, name string }{
		{"user", "User key", "e2e user key"},
		{"device", "Device key", "e2e device key"},
	} {
		goTo(t, page, env.URL+"/keys/new")
		must(t, page.GetByLabel(c.label).Check())
		if c.kind == "device" {
			// Typing part of the name offers the device, named with its fleet.
			field := page.GetByLabel("Device", playwright.PageGetByLabelOptions{Exact: playwright.Bool(true)})
			must(t, field.PressSequentially(strings.ToUpper(deviceName[:len(deviceName)-1])))
			option := page.Locator("#device-options option[value='" + device + "']")
			must(t, expect.Locator(option).ToHaveText(deviceName+" · "+fleet))
			must(t, field.Fill(device))
		}
		must(t, page.GetByLabel("Name").Fill(c.name))
		_, err := page.GetByLabel("Expires").SelectOption(playwright.SelectOptionValues{Labels: &[]string{"Custom date…"}})
		must(t, err)
		must(t, page.GetByLabel("Expiry date").Fill("2031-06-30"))
		must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Create key"}).Click())
		// The stand-in knows the secret once the answer is on the page.
		must(t, expect.Locator(page.GetByLabel("Your new key")).ToBeVisible())
		must(t, expect.Locator(page.GetByLabel("Your new key")).ToHaveValue(secretOf(env, c.name)))
		must(t, expect.Locator(page.Locator(".created")).ToContainText("expires on 30 June 2031"))
		if status := whoami(t, env, secretOf(env, c.name)); status != http.StatusOK {
			t.Errorf("%s: balena answers the new key with %d", c.kind, status)
		}
	}
}

func TestFreshSignInPromptFinishesTheCreation(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	stale, err := env.Sim.IssueToken(balenasim.DemoEmail, time.Now().Add(-45*time.Minute))
	must(t, err)
	page := newPage(t)
	goTo(t, page, env.URL+"/signin")
	must(t, page.GetByText("Or sign in with a session token or API key").Click())
	must(t, page.GetByLabel("Token").Fill(stale))
	must(t, page.Locator("#signin-token").GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Sign in"}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys$`)))

	goTo(t, page, env.URL+"/keys/new?kind=user")
	must(t, page.GetByLabel("Name").Fill("needs a fresh sign-in"))
	must(t, page.GetByLabel("Description").Fill("typed once"))
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Create key"}).Click())
	must(t, expect.Locator(page.GetByRole("heading", playwright.PageGetByRoleOptions{Name: "Confirm your password"})).ToBeVisible())
	checkA11y(t, page, "password prompt")
	must(t, page.GetByLabel("Password").Fill(balenasim.DemoPassword))
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Confirm and create key"}).Click())
	must(t, expect.Locator(page.GetByLabel("Your new key")).ToBeVisible())
	must(t, expect.Locator(page.GetByLabel("Your new key")).ToHaveValue(secretOf(env, "needs a fresh sign-in")))
}

func TestClearExpiryFromTheRowMenu(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	goTo(t, page, env.URL+"/keys?kind=user&status=expired")
	row := page.Locator("tbody tr").First()
	id, err := row.GetAttribute("data-key-id")
	must(t, err)
	must(t, row.Locator("summary").Click())
	must(t, row.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Clear expiry…"}).Click())
	// An expired key comes back to life only after a word that it will.
	ask := page.Locator(`tr.editing[data-key-id="` + id + `"]`)
	must(t, expect.Locator(ask).ToContainText("makes it work again"))
	must(t, ask.GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Clear expiry"}).Click())
	must(t, expect.Locator(page.Locator(`tr[data-key-id="`+id+`"] td.expires`)).ToHaveText("never"))
	must(t, expect.Locator(page.Locator("#alerts").GetByRole("status")).ToContainText("no longer expires."))
}

// A time reads relative in the table and, on hover, exact in the
// reader's own time zone, also in rows that htmx swapped in.
func TestTimesShowTheExactMomentInTheReadersZone(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	must(t, err)
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{
		TimezoneId: playwright.String("Asia/Tokyo"), Locale: playwright.String("en-US")})
	check := func(what string) {
		t.Helper()
		created := page.Locator("tbody tr td.created time").First()
		datetime, err := created.GetAttribute("datetime")
		must(t, err)
		at, err := time.Parse(time.RFC3339, datetime)
		must(t, err)
		local := at.In(tokyo)
		// en-US, dateStyle full and timeStyle long: "Friday, August 28, 2026 at 1:40:31 AM GMT+9".
		want := regexp.MustCompile(regexp.QuoteMeta(local.Format("Monday, January 2, 2006")) + `.*` +
			regexp.QuoteMeta(local.Format("3:04:05")) + `\s` + local.Format("PM") + ` GMT\+9`)
		must(t, expect.Locator(created).ToHaveAttribute("title", want))
		if text, _ := created.TextContent(); !strings.Contains(text, "ago") {
			t.Errorf("%s: the table shows %q, want a relative time", what, text)
		}
	}
	check("first load")
	must(t, page.GetByLabel("Search").Fill("a"))
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`q=a`)))
	check("after a filter change")
}

// A row's menu offers what applies to its key: no "Expire now" for an
// expired key, no "Clear expiry" for one that never expires.
func TestRowMenuOffersWhatAppliesToTheKey(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	for _, c := range []struct{ view, has, lacks string }{
		{"status=expired", "Clear expiry…", "Expire now…"},
		{"status=never", "Expire now…", "Clear expiry…"},
	} {
		goTo(t, page, env.URL+"/keys?kind=user&"+c.view)
		row := page.Locator("tbody tr").First()
		must(t, row.Locator("summary").Click())
		must(t, expect.Locator(row.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: c.has})).ToBeVisible())
		must(t, expect.Locator(row.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: c.lacks})).ToHaveCount(0))
		must(t, expect.Locator(row.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Rotate…"})).ToBeVisible())
	}
}

// screenshot saves the page as it is now under e2e/artifacts, for people
// to look at.
func screenshot(t *testing.T, page playwright.Page, name string) {
	t.Helper()
	_, err := page.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(filepath.Join(artifacts, name)), FullPage: playwright.Bool(true)})
	must(t, err)
}

func TestRowMenuClosesOnEscapeAndOutsideClick(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	menus := page.Locator("details.row-menu")
	first, last := menus.First(), menus.Last()
	open := page.Locator("details.row-menu[open]")

	must(t, first.Locator("summary").Click())
	must(t, expect.Locator(open).ToHaveCount(1))
	must(t, page.Keyboard().Press("Escape"))
	must(t, expect.Locator(open).ToHaveCount(0))
	must(t, expect.Locator(first.Locator("summary")).ToBeFocused())

	must(t, first.Locator("summary").Click())
	must(t, last.Locator("summary").Click()) // opening another closes the first
	must(t, expect.Locator(open).ToHaveCount(1))
	must(t, expect.Locator(last).ToHaveAttribute("open", ""))

	must(t, page.GetByRole("heading", playwright.PageGetByRoleOptions{Name: "API keys"}).Click())
	must(t, expect.Locator(open).ToHaveCount(0))
}

func TestEveryPageIsAccessible(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := newPage(t)
	goTo(t, page, env.URL+"/signin")
	checkA11y(t, page, "sign-in")
	signIn(t, page, env.URL, balenasim.Demo2FAEmail, balenasim.DemoPassword)
	must(t, expect.Locator(page.GetByLabel("Code")).ToBeVisible())
	checkA11y(t, page, "two-factor code")

	page = signedInPage(t, env)
	id, err := page.Locator("tbody tr").First().GetAttribute("data-key-id")
	must(t, err)
	for _, path := range []string{
		"/keys?status=bogus&within=x", "/keys?q=nothing-matches-this", "/keys/" + id + "/edit",
		"/keys/" + id + "/rotate", "/keys/" + id + "/revoke", "/keys/" + id + "/actions", "/keys/99999999/edit",
		"/keys/" + id + "/expire", "/keys/" + id + "/expiry",
	} {
		goTo(t, page, env.URL+path)
		checkA11y(t, page, path)
	}
}

func TestRowActionsWorkWithoutJavaScript(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{JavaScriptEnabled: playwright.Bool(false)})
	goTo(t, page, env.URL+"/keys?kind=user&status=active&sort=name")
	row, name := firstRow(t, page)
	// Without JavaScript the row menu is a link to the key's actions page.
	must(t, row.Locator("summary").Click())
	must(t, row.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Actions…"}).Click())
	must(t, expect.Locator(page.GetByRole("heading", playwright.PageGetByRoleOptions{Level: playwright.Int(1)})).ToHaveText("Actions for “"+name+"”"))
	must(t, page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "Expire now…"}).Click())
	must(t, expect.Locator(page.GetByRole("heading", playwright.PageGetByRoleOptions{Level: playwright.Int(1)})).ToHaveText("Expire “"+name+"” now?"))
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Expire now"}).Click())
	must(t, expect.Locator(page.GetByRole("status")).ToHaveText("Expired “"+name+"”."))
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys\?kind=user&sort=name&status=active$`)))

	goTo(t, page, env.URL+"/keys?kind=user&status=expired&sort=name&q="+url.QueryEscape(name))
	row, _ = firstRow(t, page)
	must(t, row.Locator("summary").Click())
	must(t, row.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Actions…"}).Click())
	must(t, expect.Locator(page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "Expire now…"})).ToHaveCount(0))
	must(t, page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "Clear expiry…"}).Click())
	must(t, expect.Locator(page.GetByRole("heading", playwright.PageGetByRoleOptions{Level: playwright.Int(1)})).ToHaveText("Revive “"+name+"”?"))
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Clear expiry"}).Click())
	must(t, expect.Locator(page.GetByRole("status")).ToHaveText("“"+name+"” no longer expires."))
}

func TestEditNameAndDescriptionInPlace(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	goTo(t, page, env.URL+"/keys?kind=user&sort=name")
	row := page.Locator("tbody tr").First()
	id, err := row.GetAttribute("data-key-id")
	must(t, err)
	this := page.Locator(`tr[data-key-id="` + id + `"]`)
	old, err := this.Locator("td.name").TextContent()
	must(t, err)

	must(t, this.Locator("summary").Click())
	must(t, this.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Edit"}).Click())
	name := this.GetByLabel("Name")
	must(t, expect.Locator(name).ToBeFocused())
	checkA11y(t, page, "editing in place")
	must(t, name.Fill(""))
	must(t, this.GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Save"}).Click())
	must(t, expect.Locator(this.GetByText("A user key needs a name")).ToBeVisible())

	// Escape gives the row back unchanged.
	must(t, this.GetByLabel("Name").Press("Escape"))
	must(t, expect.Locator(this.Locator("td.name")).ToHaveText(strings.TrimSpace(old)))

	must(t, this.Locator("summary").Click())
	must(t, this.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Edit"}).Click())
	// htmx moves focus to the name after the swap settles; typing before
	// that would land in whichever field had focus.
	must(t, expect.Locator(this.GetByLabel("Name")).ToBeFocused())
	must(t, this.GetByLabel("Name").Fill("renamed in place"))
	must(t, this.GetByLabel("Description").Fill("edited without leaving the table"))
	must(t, this.GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Save"}).Click())
	must(t, expect.Locator(this.Locator("td.name")).ToHaveText("renamed in place"))
	must(t, expect.Locator(this.Locator("td.description")).ToHaveText("edited without leaving the table"))
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys\?kind=user&sort=name$`)))
	if secretOf(env, "renamed in place") == "" {
		t.Error("balena did not get the new name")
	}
}

// firstRow is the first row of the keys table and the key's name in it.
func firstRow(t *testing.T, page playwright.Page) (playwright.Locator, string) {
	t.Helper()
	row := page.Locator("tbody tr").First()
	name, err := row.Locator("td.name").TextContent()
	must(t, err)
	return row, strings.TrimSpace(name)
}

// A run through every action that makes a secret: create a key of each
// kind, rotate, expire, revoke in bulk. Each new secret is on its one page
// and nowhere else: not in the logs, not in later pages, not in browser
// storage or cookies, not in the session files.
func TestNewKeySecretsAppearOnceAndNowhereElse(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	seen := &secretsKept{t: t, page: page}
	before := map[int64]bool{}
	for _, k := range env.Sim.Keys() {
		before[k.ID] = true
	}
	var device string
	for _, k := range env.Sim.Keys() {
		if k.Kind == balenasim.KindDevice && k.FleetSlug != "" {
			device = k.DeviceUUID
		}
	}
	shown := map[string]bool{}
	showSecret := func() {
		t.Helper()
		box := page.GetByLabel("Your new key")
		must(t, expect.Locator(box).ToBeVisible())
		v, err := box.InputValue()
		must(t, err)
		shown[v] = true
		goTo(t, page, env.URL+"/keys") // leave the one page that shows it
		seen.look()
	}

	for _, kind := range []string{"User key", "Provisioning key", "Device key"} {
		goTo(t, page, env.URL+"/keys/new")
		must(t, page.GetByLabel(kind).Check())
		switch kind {
		case "Provisioning key":
			_, err := page.GetByLabel("Fleet", playwright.PageGetByLabelOptions{Exact: playwright.Bool(true)}).SelectOption(playwright.SelectOptionValues{Values: &[]string{"acme/plant-3"}})
			must(t, err)
		case "Device key":
			must(t, page.GetByLabel("Device", playwright.PageGetByLabelOptions{Exact: playwright.Bool(true)}).Fill(device))
		}
		must(t, page.GetByLabel("Name").Fill("leak check "+kind))
		must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Create key"}).Click())
		showSecret()
	}
	goTo(t, page, env.URL+"/keys?q=leak+check+Provisioning")
	row, _ := firstRow(t, page)
	must(t, row.Locator("summary").Click())
	must(t, row.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Rotate…"}).Click())
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Rotate key"}).Click())
	showSecret()
	goTo(t, page, env.URL+"/keys?q=leak+check")
	must(t, page.GetByRole("checkbox", playwright.PageGetByRoleOptions{Name: "Select all keys on this page"}).Check())
	must(t, page.Locator("#bulk").GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Expire now"}).Click())
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Expire 4 keys"}).Click())
	must(t, expect.Locator(page.GetByRole("heading", playwright.PageGetByRoleOptions{Level: playwright.Int(1)})).ToHaveText("Expired 4 keys"))
	seen.look()

	var made []string
	for _, k := range env.Sim.Keys() {
		if !before[k.ID] {
			made = append(made, k.Secret)
			if !shown[k.Secret] {
				t.Errorf("key %d was made but its secret was never shown", k.ID)
			}
		}
	}
	if len(made) != 4 {
		t.Fatalf("%d keys made, want 4", len(made))
	}
	files, _ := filepath.Glob(filepath.Join(env.DataDir(), "sessions", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		must(t, err)
		seen.snapshot = append(seen.snapshot, string(b))
	}
	logs := env.Logs.String()
	for _, secret := range made {
		if strings.Contains(logs, secret) {
			t.Error("a new key's secret is in the logs")
		}
		for _, s := range seen.snapshot {
			if strings.Contains(s, secret) {
				t.Errorf("a new key's secret shows up again in %.80q", s)
			}
		}
	}
}

func TestASharedLinkOpensItsViewAfterSignIn(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := newPage(t)
	goTo(t, page, env.URL+"/keys?kind=device&q=gw&sort=name")
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/signin\?next=`)))
	form := page.Locator("#signin-password")
	must(t, form.GetByLabel("Email").Fill(balenasim.DemoEmail))
	must(t, form.GetByLabel("Password").Fill(balenasim.DemoPassword))
	must(t, form.GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Sign in"}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys\?kind=device&q=gw&sort=name$`)))
	must(t, expect.Locator(page.GetByRole("checkbox", playwright.PageGetByRoleOptions{Name: "Device", Exact: playwright.Bool(true)})).ToBeChecked())
	must(t, expect.Locator(page.GetByLabel("Search")).ToHaveValue("gw"))
}

func TestAFailedRowActionSaysSoAndKeepsTheRow(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	goTo(t, page, env.URL+"/keys?kind=user&status=active&sort=name")
	row, _ := firstRow(t, page)
	before, err := row.Locator("td.expires").TextContent()
	must(t, err)
	env.Sim.SetFaults(balenasim.Faults{ErrorRate: 1, Routes: []string{"PATCH /v7/api_key(id)"}})
	expectConsoleErrors(page, `status of 502`, `Error Code 502`)
	must(t, row.Locator("summary").Click())
	must(t, row.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Expire now…"}).Click())
	must(t, page.Locator("tbody tr.editing").GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Expire now"}).Click())
	must(t, expect.Locator(page.Locator("#alerts").GetByRole("alert")).ToHaveText("The key was not expired. balena answered with an error. Try again in a moment."))
	// The question stays in the row; Cancel brings the row back unchanged.
	must(t, page.Locator("tbody tr.editing").GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Cancel"}).Click())
	must(t, expect.Locator(row.Locator("td.expires")).ToHaveText(before))
	checkA11y(t, page, "error alert")
}

// A key made although balena's answer, with its secret, was lost: the
// page names it, says the secret is gone, and one click revokes it.
func TestAKeyWhoseAnswerWasLostIsNamedAndRevokedInOneClick(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	page := signedInPage(t, env)
	goTo(t, page, env.URL+"/keys/new?kind=user")
	must(t, page.GetByLabel("Name").Fill("answer lost"))
	env.Sim.SetFaults(balenasim.Faults{TruncateRate: 1, Routes: []string{"POST /api-key/user/full"}})
	expectConsoleErrors(page, `status of 502`, `Error Code 502`)
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Create key"}).Click())
	alert := page.GetByRole("alert")
	must(t, expect.Locator(alert).ToContainText("The key “answer lost” was made, but balena's answer with its secret was lost"))
	env.Sim.SetFaults(balenasim.Faults{})
	if secretOf(env, "answer lost") == "" {
		t.Fatal("balena holds no such key")
	}
	must(t, expect.Locator(page.GetByLabel("Your new key")).ToHaveCount(0))
	checkA11y(t, page, "a key whose secret was lost")
	must(t, alert.GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Revoke this key"}).Click())
	must(t, expect.Locator(page.GetByRole("status")).ToHaveText("Revoked “answer lost”."))
	if secretOf(env, "answer lost") != "" {
		t.Error("the key is still at balena")
	}
}
