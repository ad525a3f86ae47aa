package handlers

import (
	"bytes"
	"sync"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/views"
)

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render writes a templ component with status. It renders into a buffer
// first, so a template error becomes a clean error page instead of half a
// page.
func render(c echo.Context, status int, comp templ.Component) error {
	buf := buffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer buffers.Put(buf)
	if err := comp.Render(c.Request().Context(), buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// page is the common part of every full page's view model.
func (s *Server) page(c echo.Context, title string) views.Page {
	p := views.Page{
		Title:                title,
		CSRF:                 csrfToken(c),
		SignOutURL:           s.url(routeSignOut),
		SignOutEverywhereURL: s.url(routeSignOutAll),
		KeysURL:              s.url(routeKeys),
		AuditURL:             s.url(routeAudit),
		OverviewURL:          s.url(routeOverview),
	}
	if u := currentUser(c); u.SignedIn() {
		p.User = &views.User{Name: displayName(u.Identity), Detail: u.Identity.Email, APIKey: u.APIKey,
			CanCreateUserKeys: u.CanCreateUserKeys, CanChangeKeys: u.CanChangeKeys}
	}
	return p
}

func csrfToken(c echo.Context) string {
	t, _ := c.Get(ctxCSRF).(string)
	return t
}

// displayName is how the header names whoever signed in.
func displayName(id apiclient.Identity) string {
	switch {
	case id.Username != "":
		return id.Username
	case id.Slug != "":
		return id.Slug
	case id.UUID != "":
		return id.UUID
	}
	return id.Email
}
