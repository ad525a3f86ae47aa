package e2e

import (
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/playwright-community/playwright-go"

	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

func policyEnv(t *testing.T, describe bool) *portaltest.Env {
	return portaltest.Start(t, portaltest.Options{Config: func(c *config.Config) {
		c.PolicyMaxLifetime, c.PolicyRequireDescription = 90*24*time.Hour, describe
	}})
}

// The create form states the policy beside its fields and offers no
// expiry beyond it; a date picked beyond it anyway is refused at the field.
func TestCreateFormShowsThePolicyAndOffersNoNever(t *testing.T) {
	env := policyEnv(t, true)
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{
		ColorScheme: playwright.ColorSchemeDark,
		Viewport:    &playwright.Size{Width: 390, Height: 844},
	})
	goTo(t, page, env.URL+"/keys/new")
	expiry := page.GetByLabel("Expires", playwright.PageGetByLabelOptions{Exact: playwright.Bool(true)})
	options, err := expiry.Locator("option").AllTextContents()
	must(t, err)
	for _, o := range options {
		if o == "Never" || o == "1 year" {
			t.Errorf("the create form offers %q", o)
		}
	}
	must(t, expect.Locator(expiry).ToHaveAccessibleDescription("Your organization's policy: keys expire within 90 days."))
	must(t, expect.Locator(page.GetByLabel("Description")).ToHaveAccessibleDescription("Your organization's policy: every key has a description."))
	checkA11y(t, page, "create form with a policy, dark, phone")

	must(t, page.GetByLabel("Provisioning key").Check())
	_, err = page.GetByLabel("Fleet", playwright.PageGetByLabelOptions{Exact: playwright.Bool(true)}).SelectOption(playwright.SelectOptionValues{Values: &[]string{"acme/plant-3"}})
	must(t, err)
	must(t, page.GetByLabel("Name").Fill("too long a life"))
	must(t, page.GetByLabel("Description").Fill("line 3"))
	_, err = expiry.SelectOption(playwright.SelectOptionValues{Values: &[]string{"custom"}})
	must(t, err)
	max, err := page.GetByLabel("Expiry date").GetAttribute("max")
	must(t, err)
	last, err := time.Parse(time.DateOnly, max)
	must(t, err)
	must(t, page.GetByLabel("Expiry date").Fill(last.AddDate(0, 0, 1).Format(time.DateOnly)))
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Create key"}).Click())
	must(t, expect.Locator(page.Locator("#k-expiry-date[aria-invalid] ~ .field-error")).ToHaveText("Your organization's policy: keys expire within 90 days. Pick a date no later than "+max+"."))
	must(t, expect.Locator(page.GetByLabel("Name")).ToHaveValue("too long a life"))
	checkA11y(t, page, "create form refused by the policy")
	screenshot(t, page, "create-policy-dark-phone.png")
	goTo(t, page, env.URL+"/keys?policy=breach")
	must(t, expect.Locator(page.GetByLabel("Policy")).ToHaveValue("breach"))
	checkA11y(t, page, "breach view, dark, phone")
}

// The keys that break the policy are a view of their own, and one bulk
// action brings them all within it.
func TestBreachViewAndSetToThePolicysMaximum(t *testing.T) {
	env := policyEnv(t, false)
	page := signedInPage(t, env)
	_, err := page.GetByLabel("Policy").SelectOption(playwright.SelectOptionValues{Values: &[]string{"breach"}})
	must(t, err)
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys\?policy=breach$`)))
	must(t, expect.Locator(page.Locator("#results")).ToHaveAttribute("aria-busy", "false"))
	rows := page.Locator("tbody tr")
	n, err := rows.Count()
	must(t, err)
	if n < 3 {
		t.Fatalf("the demo has %d breaches", n)
	}
	for _, e := range mustTexts(t, page.Locator("tbody td.expires")) {
		if e != "never" && !regexp.MustCompile(`^in (1[0-9]{2}|[3-9][0-9]{2}) days|year`).MatchString(e) {
			t.Errorf("a breach expires %q", e)
		}
	}
	checkA11y(t, page, "breach view")
	screenshot(t, page, "keys-policy-breach.png")
	must(t, page.GetByLabel("Select all keys on this page").Check())
	must(t, page.Locator("#bulk").GetByRole("button", playwright.LocatorGetByRoleOptions{Name: "Set expiry to the policy's maximum"}).Click())
	must(t, expect.Locator(page.GetByRole("heading", playwright.PageGetByRoleOptions{Level: playwright.Int(1)})).ToHaveText("Limit the lifetime of "+strconv.Itoa(n)+" keys?"))
	checkA11y(t, page, "set-to-maximum confirmation")
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Limit the lifetime of " + strconv.Itoa(n) + " keys"}).Click())
	must(t, expect.Locator(page.GetByRole("heading", playwright.PageGetByRoleOptions{Level: playwright.Int(1)})).ToHaveText("Limited the lifetime of "+strconv.Itoa(n)+" keys"))
	checkA11y(t, page, "set-to-maximum result")
	must(t, page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "Back to keys"}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`policy=breach`)))
	must(t, expect.Locator(page.Locator("#results .empty")).ToHaveText("No keys match these filters."))
}

// Without JavaScript the policy filter is a plain form field, and a breach
// posted by the plain form comes back with the message at the field.
func TestPolicyWorksWithoutJavaScript(t *testing.T) {
	env := policyEnv(t, false)
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{JavaScriptEnabled: playwright.Bool(false)})
	_, err := page.GetByLabel("Policy").SelectOption(playwright.SelectOptionValues{Values: &[]string{"breach"}})
	must(t, err)
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Apply"}).Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys\?policy=breach$`)))
	must(t, expect.Locator(page.Locator("tbody tr").First()).ToBeVisible())

	row, err := page.Locator("tbody tr").First().GetAttribute("data-key-id")
	must(t, err)
	goTo(t, page, env.URL+"/keys/"+row+"/edit")
	expiry := page.GetByLabel("Expires", playwright.PageGetByLabelOptions{Exact: playwright.Bool(true)})
	if n, err := expiry.Locator("option[value=never]").Count(); err != nil || n != 0 {
		t.Errorf("the edit form offers never (%d, %v)", n, err)
	}
	_, err = expiry.SelectOption(playwright.SelectOptionValues{Values: &[]string{"custom"}})
	must(t, err)
	must(t, page.GetByLabel("Expiry date").Fill(time.Now().AddDate(1, 0, 0).Format(time.DateOnly)))
	must(t, page.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Save"}).Click())
	must(t, expect.Locator(page.Locator("#k-expiry-date[aria-invalid] ~ .field-error")).ToContainText("Your organization's policy: keys expire within 90 days."))
	must(t, expect.Locator(page.GetByLabel("Expiry date")).ToHaveValue(time.Now().AddDate(1, 0, 0).Format(time.DateOnly)))
}

func mustTexts(t *testing.T, l playwright.Locator) []string {
	t.Helper()
	texts, err := l.AllInnerTexts()
	must(t, err)
	return texts
}

// The edit form of a key that breaks the policy says so beside its expiry
// and mends it in one click; the key then leaves the breach view.
func TestEditFormOfABreachSaysSoAndMendsItInOneClick(t *testing.T) {
	env := policyEnv(t, false)
	page := signedInPage(t, env)
	goTo(t, page, env.URL+"/keys?policy=breach")
	first := page.Locator("tbody tr").First()
	id, err := first.GetAttribute("data-key-id")
	must(t, err)
	goTo(t, page, env.URL+"/keys/"+id+"/edit?return="+url.QueryEscape("/keys?policy=breach"))
	note := page.Locator("#k-breach")
	must(t, expect.Locator(note).ToContainText("This key breaks your organization's policy (keys expire within 90 days)"))
	must(t, expect.Locator(page.Locator("#k-expiry option[value=keep]")).ToContainText("breaks the policy"))
	checkA11y(t, page, "edit form of a breach")
	must(t, note.GetByRole("button").Click())
	must(t, expect.Page(page).ToHaveURL(regexp.MustCompile(`/keys\?policy=breach$`)))
	must(t, expect.Locator(page.Locator(".flash-success")).ToContainText("Set the expiry of"))
	must(t, expect.Locator(page.Locator(`tbody tr[data-key-id="`+id+`"]`)).ToHaveCount(0))
}
