package views

import (
	"strings"
	"time"

	"github.com/a-h/templ"
)

// Page is what every full page needs besides its own content.
type Page struct {
	Title      string
	CSRF       string // token for the sign-out form and htmx's header
	User       *User  // nil on the sign-in pages
	SignOutURL string
	// SignOutEverywhereURL ends every session of the account.
	SignOutEverywhereURL string
	KeysURL              string
	AuditURL             string
	OverviewURL          string
	// Current is the header link of this page (NavKeys, NavOverview, NavAudit),
	// marked aria-current; "" when the page is none of them.
	Current string
}

// The header's links, as Page.Current names them.
const (
	NavKeys     = "keys"
	NavOverview = "overview"
	NavAudit    = "audit"
)

// navAttrs marks the header link named link as the current page's.
func (p Page) navAttrs(link string) templ.Attributes {
	if p.Current == link {
		return templ.Attributes{"aria-current": "page"}
	}
	return templ.Attributes{}
}

// User is the signed-in account as the header shows it, and what its
// sign-in lets it do: views disable the controls it cannot use.
type User struct {
	Name   string // username, fleet slug or device uuid
	Detail string // email, when balena told us
	APIKey bool   // signed in with an API key rather than a session

	CanCreateUserKeys bool // false for API keys: balena refuses them auth.create_token
	CanChangeKeys     bool // false for API keys: no PATCH or DELETE of api_key
}

// Limits says in one sentence what this sign-in cannot do, "" when nothing.
func (u *User) Limits() string {
	if u == nil {
		return ""
	}
	var cannot []string
	if !u.CanCreateUserKeys {
		cannot = append(cannot, "create user keys")
	}
	if !u.CanChangeKeys {
		cannot = append(cannot, "change, expire or revoke keys")
	}
	if len(cannot) == 0 {
		return ""
	}
	how := "this sign-in"
	if u.APIKey {
		how = "an API key"
	}
	return "Signed in with " + how + ": you can see keys but not " + strings.Join(cannot, ", or ") +
		". Sign in with your password or a session token for that."
}

// Flash is a one-line message at the top of a page, with perhaps a link
// to see more and a button that acts on what it says.
type Flash struct {
	Kind     string // "info", "success", "warning", "error"
	Text     string
	Link     string // a page of this portal that shows what the text is about
	LinkText string
	Button   *FlashButton
	// At, when set, is a moment the text ends with, shown as the table
	// shows times: relative, with the exact moment on hover in the
	// reader's own time zone.
	At *FlashTime
}

// FlashTime is a moment in a flash.
type FlashTime struct {
	ISO   string // RFC 3339, UTC
	Exact string // the hover text before app.js localises it
	Text  string // "in 1 day"
}

// TimeAt is t as a FlashTime, read at now.
func TimeAt(t, now time.Time) *FlashTime {
	return &FlashTime{ISO: t.UTC().Format(time.RFC3339), Exact: ExactTime(t), Text: RelTime(t, now)}
}

// FlashButton is a one-click action offered by a flash: a plain form.
type FlashButton struct {
	Action string // POST here
	CSRF   string
	Return string // the keys view to go back to
	Label  string
}

// Where a request carries its CSRF token: the views write these names and
// the handlers' CSRF check reads them, so both come from here.
const (
	CSRFField  = "_csrf"        // plain forms' hidden field
	CSRFHeader = "X-CSRF-Token" // the header htmx sends (csrfHeaders)
)

// csrfHeaders is the hx-headers value that makes htmx send the CSRF token
// on every request, so no inline script is needed to add it.
func csrfHeaders(token string) string {
	return `{"` + CSRFHeader + `":"` + token + `"}`
}
