package views

// Page is what every full page needs besides its own content.
type Page struct {
	Title      string
	CSRF       string // token for the sign-out form and htmx's header
	User       *User  // nil on the sign-in pages
	SignOutURL string
	KeysURL    string
}

// User is the signed-in account as the header shows it.
type User struct {
	Name   string // username, fleet slug or device uuid
	Detail string // email, when balena told us
	APIKey bool   // signed in with an API key rather than a session
}

// Flash is a one-line message at the top of a page.
type Flash struct {
	Kind string // "info", "success", "warning", "error"
	Text string
}

// csrfHeaders is the hx-headers value that makes htmx send the CSRF token
// on every request, so no inline script is needed to add it.
func csrfHeaders(token string) string {
	return `{"X-CSRF-Token":"` + token + `"}`
}
