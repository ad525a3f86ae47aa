package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/session"
	"github.com/keyportal/keyportal/views"
)

// problem is what the user is told about a failure, and with which status.
type problem struct {
	Status  int
	Message string
}

// sessionsUnavailable is what anything needing a session says while the
// session store (Redis, or the data directory) does not answer: nothing
// about it, which is the operator's to read in the log and /readyz.
const sessionsUnavailable = "Keyportal is unavailable for a moment: it cannot reach its session store, where it keeps who is signed in. Nothing was changed. Try again in a minute."

// statuses answers each kind of failure with its HTTP status.
var statuses = map[apiclient.Code]int{
	apiclient.CodeUnauthorized: http.StatusUnauthorized,
	apiclient.CodeFreshAuth:    http.StatusUnauthorized,
	apiclient.CodeTwoFactor:    http.StatusUnauthorized,
	apiclient.CodeForbidden:    http.StatusForbidden,
	apiclient.CodeNotFound:     http.StatusNotFound,
	apiclient.CodeInvalid:      http.StatusBadRequest,
	apiclient.CodeConflict:     http.StatusConflict,
	apiclient.CodeRateLimited:  http.StatusTooManyRequests,
	apiclient.CodeTimeout:      http.StatusGatewayTimeout,
	apiclient.CodeUpstream:     http.StatusBadGateway,
	apiclient.CodeUnreachable:  http.StatusBadGateway,
	apiclient.CodeBadToken:     http.StatusBadRequest,
	"":                         http.StatusInternalServerError,
}

// describe maps any error to a status and a message a person can act on:
// the web layer's own refusals as they were made, and everything else by
// its code, in the words of apikeys.Explain.
func describe(err error) problem {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && he.Code < 500 {
			msg = m
		}
		return problem{he.Code, msg}
	}
	if errors.As(err, new(auditReadError)) {
		return problem{http.StatusServiceUnavailable, auditUnavailable}
	}
	if errors.As(err, new(session.StoreError)) {
		return problem{http.StatusServiceUnavailable, sessionsUnavailable}
	}
	status, ok := statuses[apikeys.Code(err)]
	if !ok {
		status = http.StatusBadGateway
	}
	return problem{status, apikeys.Explain(err)}
}

// handleError is Echo's error handler: it answers with an error page (or,
// for htmx, an error banner in place). The request log writes the line,
// by severity, with the error and the final status.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := describe(err)
	if apiclient.ErrorCode(err) == apiclient.CodeUnauthorized && currentUser(c).SignedIn() {
		// balena says the token is dead (revoked key, expired session):
		// the portal's session goes with it.
		if err := s.endSession(c, reasonRevoked); err == nil {
			return
		}
	}
	// An error page is about this request only: no cache keeps it.
	c.Response().Header().Set("Cache-Control", "no-store")
	if errors.As(err, new(session.StoreError)) {
		c.Response().Header().Set("Retry-After", "30")
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(p.Status)
		return
	}
	if isHTMX(c) {
		// Whatever the request meant to replace (a row, the create card,
		// the results) stays as it was; the message goes to the page's
		// alert region, which every page has.
		c.Response().Header().Set(hxRetarget, "#alerts")
		c.Response().Header().Set(hxReswap, "innerHTML")
		_ = render(c, p.Status, views.FlashBanner(s.failure(c, err)))
		return
	}
	f := s.failure(c, err)
	_ = render(c, p.Status, views.ErrorPage(views.Error{
		Page: s.page(c, http.StatusText(p.Status)), Status: p.Status, Message: p.Message,
		Link: f.Link, LinkText: f.LinkText, Button: f.Button,
	}))
}

// failure is err as a flash: its words, and where a change's outcome is
// unknown, a link to the key in the list; where a key was made but its
// secret lost, a button that revokes it.
func (s *Server) failure(c echo.Context, err error) views.Flash {
	f := views.Flash{Kind: "error", Text: describe(err).Message}
	if errors.As(err, new(session.StoreError)) {
		f.Link, f.LinkText = s.tryAgain(c), "Try again"
	}
	var we *apikeys.WriteError
	if errors.As(err, &we) && we.Outcome == apikeys.Unknown {
		f.Link, f.LinkText = s.keyView(we.Key), "See it in the list of keys."
	}
	var lost *apikeys.SecretLost
	if errors.As(err, &lost) {
		view := s.keyView(lost.Key)
		f.Link, f.LinkText = view, "See it in the list of keys."
		if lost.Key.ID != 0 {
			f.Button = &views.FlashButton{Action: s.url(routeKeyDelete, lost.Key.ID), CSRF: csrfToken(c), Return: view, Label: "Revoke this key"}
		}
	}
	return f
}

// keyView is the keys view that shows k: its name, kind and owner.
func (s *Server) keyView(k apiclient.APIKey) string {
	v := url.Values{"q": {k.Name}, "kind": {string(k.Kind)}}
	switch k.Kind {
	case apiclient.KindProvisioning:
		v.Set("fleet", k.Owner.FleetSlug)
	case apiclient.KindDevice:
		v.Set("device", k.Owner.DeviceUUID)
	}
	return parseKeyFilter(v).URL(s.url(routeKeys))
}

// tryAgain is where a request that may succeed later is made again: the
// page itself, or for a form sent, the sign-in page or the keys, whose
// forms the user fills in again.
func (s *Server) tryAgain(c echo.Context) string {
	r := c.Request()
	switch {
	case r.Method != http.MethodGet || isHTMX(c):
		if p := r.URL.Path; p == s.url(routeSignInSubmit) || p == s.url(routeTOTPSubmit) {
			return s.url(routeSignIn)
		}
		return s.url(routeKeys)
	case strings.HasPrefix(r.URL.Path, "/") && !strings.HasPrefix(r.URL.Path, "//"):
		return r.URL.RequestURI()
	}
	return s.url(routeKeys)
}
