package handlers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/session"
	"github.com/keyportal/keyportal/views"
)

// problem is what the user is told about a failure, and with which status.
type problem struct {
	Status  int
	Message string
}

// describe maps any error to a status and a message a person can act on.
// It is the one place where balena's failures become words.
func describe(err error) problem {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && he.Code < 500 {
			msg = m
		}
		return problem{he.Code, msg}
	}
	if errors.As(err, new(session.StoreError)) {
		return problem{http.StatusServiceUnavailable, "Sign-in is unavailable for a moment: the portal cannot reach its session store. Try again shortly."}
	}
	var ae *apiclient.Error
	if !errors.As(err, &ae) {
		if errors.Is(err, context.DeadlineExceeded) {
			return problem{http.StatusGatewayTimeout, "balena did not answer in time. Try again in a moment."}
		}
		return problem{http.StatusInternalServerError, "Something went wrong on our side. Try again; if it keeps happening, tell your administrator."}
	}
	switch ae.Code {
	case apiclient.CodeUnauthorized:
		return problem{http.StatusUnauthorized, "balena no longer accepts your sign-in. Sign in again."}
	case apiclient.CodeFreshAuth:
		return problem{http.StatusUnauthorized, "balena wants you to confirm your password before this action."}
	case apiclient.CodeForbidden:
		return problem{http.StatusForbidden, "Your balena account is not allowed to do that."}
	case apiclient.CodeNotFound:
		return problem{http.StatusNotFound, "That key no longer exists, or you cannot see it."}
	case apiclient.CodeInvalid:
		msg := "balena refused the request as invalid."
		if ae.Message != "" {
			msg = "balena refused the request: " + ae.Message
		}
		return problem{http.StatusBadRequest, msg}
	case apiclient.CodeConflict:
		return problem{http.StatusConflict, "That conflicts with an existing key."}
	case apiclient.CodeRateLimited:
		return problem{http.StatusTooManyRequests, "balena is rate-limiting requests. " + retryIn(ae.RetryAfter)}
	case apiclient.CodeTimeout:
		return problem{http.StatusGatewayTimeout, "balena did not answer in time. Try again in a moment."}
	case apiclient.CodeTwoFactor:
		return problem{http.StatusUnauthorized, "That code is not right. Enter the current code from your authenticator app."}
	}
	return problem{http.StatusBadGateway, "balena answered with an error. Try again in a moment."}
}

// retryIn words a Retry-After delay.
func retryIn(d time.Duration) string {
	switch {
	case d <= 0:
		return "Try again in a moment."
	case d < time.Minute:
		return fmt.Sprintf("Try again in %d seconds.", int(d.Seconds()+0.5))
	case d < 2*time.Hour:
		return fmt.Sprintf("Try again in %d minutes.", int(d.Minutes()+0.5))
	}
	return fmt.Sprintf("Try again in %d hours.", int(d.Hours()+0.5))
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
		_ = render(c, p.Status, views.FlashBanner(views.Flash{Kind: "error", Text: p.Message}))
		return
	}
	_ = render(c, p.Status, views.ErrorPage(views.Error{
		Page: s.page(c, http.StatusText(p.Status)), Status: p.Status, Message: p.Message,
	}))
}

// invalid is a 400 that states every problem in errs (field -> message),
// in field order so that the same input always reads the same; nil when
// there is none. For requests that have no form to show the messages on.
func invalid(errs map[string]string) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(errs))
	for _, field := range slices.Sorted(maps.Keys(errs)) {
		msgs = append(msgs, errs[field])
	}
	return echo.NewHTTPError(http.StatusBadRequest, strings.Join(msgs, " "))
}
