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

// The keys page says when the next digest goes out, relative, with the
// exact moment on hover in the reader's own time zone, and never where it
// goes.
func TestKeysPageSaysWhenTheNextDigestGoesOutInTheReadersZone(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Watch: true, Config: func(c *config.Config) {
		c.PublicURL = "https://keys.example.com"
		c.DigestWebhookURL = "https://hooks.example.com/services/T0/B0/hook-token"
	}})
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	must(t, err)
	page := signedInPage(t, env, playwright.BrowserNewContextOptions{
		TimezoneId: playwright.String("Asia/Tokyo"), Locale: playwright.String("en-US")})
	line := page.Locator("p.alerts")
	must(t, expect.Locator(line).ToContainText(regexp.MustCompile(`The next digest goes out (in \d+ (hours?|days?|minutes?)|just now)\.`)))
	next := line.Locator("time")
	datetime, err := next.GetAttribute("datetime")
	must(t, err)
	at, err := time.Parse(time.RFC3339, datetime)
	must(t, err)
	if at.UTC().Hour() != 8 || at.UTC().Minute() != 0 || at.UTC().Weekday() == time.Saturday || at.UTC().Weekday() == time.Sunday {
		t.Errorf("the next digest is at %s, want a weekday at 08:00 UTC", datetime)
	}
	local := at.In(tokyo) // 08:00 UTC is 5:00 PM in Tokyo
	must(t, expect.Locator(next).ToHaveAttribute("title", regexp.MustCompile(regexp.QuoteMeta(local.Format("Monday, January 2, 2006"))+`.*5:00:00\sPM GMT\+9`)))
	html, err := page.Content()
	must(t, err)
	if strings.Contains(html, "hooks.example.com") || strings.Contains(html, "hook-token") {
		t.Error("the keys page shows where the digest goes")
	}
	checkA11y(t, page, "keys page with the digest's line")
}
