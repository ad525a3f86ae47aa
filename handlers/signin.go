package handlers

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/views"
)

// signin serves sign-in (password, two-factor code, or a pasted token) and
// sign-out.
type signin struct{ *Server }

func (h signin) routes(g *echo.Group) {
	g.GET("/signin", h.show).Name = routeSignIn
	g.POST("/signin", h.submit).Name = routeSignInSubmit
	g.GET("/signin/code", h.showTOTP).Name = routeTOTP
	g.POST("/signin/code", h.submitTOTP).Name = routeTOTPSubmit
	g.POST("/signout", h.signOut).Name = routeSignOut
}

// reasons words why someone landed on sign-in; only these fixed texts are
// ever shown, never text from the URL.
var reasons = map[string]views.Flash{
	reasonSignedOut: {Kind: "success", Text: "You have signed out."},
	reasonExpired:   {Kind: "info", Text: "Your balena session has expired. Sign in again."},
	reasonIdle:      {Kind: "info", Text: "You were signed out after a period of inactivity."},
	reasonRevoked:   {Kind: "warning", Text: "balena no longer accepts your token (it expired or was revoked). Sign in again."},
}

func (h signin) show(c echo.Context) error {
	if currentUser(c).signedIn() {
		return c.Redirect(http.StatusSeeOther, h.url(routeKeys))
	}
	return h.form(c, http.StatusOK, "", "", reasons[c.QueryParam("reason")])
}

func (h signin) form(c echo.Context, status int, email, errorFor string, flash views.Flash) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, status, views.SignInPage(views.SignIn{
		Page: h.page(c, "Sign in"), Action: h.url(routeSignInSubmit),
		Email: email, ErrorFor: errorFor, Flash: flash,
	}))
}

func (h signin) submit(c echo.Context) error {
	ctx := c.Request().Context()
	if c.FormValue("method") == "token" {
		token := strings.TrimSpace(c.FormValue("token"))
		if token == "" {
			return h.form(c, http.StatusBadRequest, "", "token", views.Flash{Kind: "error", Text: "Paste a session token or an API key."})
		}
		return h.startSession(c, token, "token")
	}

	email := strings.TrimSpace(c.FormValue("email"))
	password := c.FormValue("password")
	if email == "" || password == "" {
		return h.form(c, http.StatusBadRequest, email, "password", views.Flash{Kind: "error", Text: "Enter your email and password."})
	}
	token, err := h.balena.Login(ctx, email, password)
	if err != nil {
		return h.failed(c, err, email, "password")
	}
	if claims, ok := apiclient.ParseClaims(token); ok && claims.TwoFactorRequired {
		// Keep the partial token server-side under a fresh session id until
		// the code arrives.
		if err := h.sessions.start(c, &userSession{PartialToken: token, PartialEmail: email, LastSeen: h.now()}); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, h.url(routeTOTP))
	}
	return h.startSession(c, token, "password")
}

// failed shows the sign-in form again with what went wrong.
func (h signin) failed(c echo.Context, err error, email, errorFor string) error {
	p := describe(err)
	msg := p.Message
	switch apiclient.ErrorCode(err) {
	case apiclient.CodeUnauthorized:
		msg = "Wrong email or password."
		if errorFor == "token" {
			msg = "balena does not accept that token: it is unknown, expired or revoked."
		}
	case apiclient.CodeRateLimited:
		var ae *apiclient.Error
		if e, ok := err.(*apiclient.Error); ok {
			ae = e
		}
		msg = "Too many sign-in attempts for this account. "
		if ae != nil {
			msg += retryIn(ae.RetryAfter)
		}
	}
	return h.form(c, p.Status, email, errorFor, views.Flash{Kind: "error", Text: msg})
}

// startSession checks token with balena and, if it is good, makes a new
// session for it.
func (h signin) startSession(c echo.Context, token, via string) error {
	ctx := c.Request().Context()
	id, err := h.balena.As(token).WhoAmI(ctx)
	if err != nil {
		email := ""
		if via == "password" {
			email = c.FormValue("email")
		}
		return h.failed(c, err, email, via)
	}
	now := h.now()
	u := &userSession{Token: token, Identity: id, SignedInAt: now, LastSeen: now}
	if claims, ok := apiclient.ParseClaims(token); ok {
		u.Expires = claims.Expires
	} else {
		u.APIKey = true
	}
	if err := h.sessions.start(c, u); err != nil {
		return err
	}
	h.log.LogAttrs(ctx, infoLevel, "signed in", actorAttrs(id)...)
	return c.Redirect(http.StatusSeeOther, h.url(routeKeys))
}

func (h signin) showTOTP(c echo.Context) error {
	u := currentUser(c)
	if u == nil || u.PartialToken == "" {
		return c.Redirect(http.StatusSeeOther, h.url(routeSignIn))
	}
	return h.totpForm(c, http.StatusOK, u, views.Flash{})
}

func (h signin) totpForm(c echo.Context, status int, u *userSession, flash views.Flash) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, status, views.TOTPPage(views.TOTP{
		Page: h.page(c, "Two-factor authentication"), Action: h.url(routeTOTPSubmit),
		Email: u.PartialEmail, Flash: flash,
	}))
}

func (h signin) submitTOTP(c echo.Context) error {
	u := currentUser(c)
	if u == nil || u.PartialToken == "" {
		return c.Redirect(http.StatusSeeOther, h.url(routeSignIn))
	}
	code := strings.TrimSpace(c.FormValue("code"))
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return h.totpForm(c, http.StatusBadRequest, u, views.Flash{Kind: "error", Text: "Enter the 6-digit code from your authenticator app."})
	}
	token, err := h.balena.VerifyTOTP(c.Request().Context(), u.PartialToken, code)
	if err != nil {
		p := describe(err)
		msg := p.Message
		if c := apiclient.ErrorCode(err); c == apiclient.CodeUnauthorized || c == apiclient.CodeTwoFactor {
			msg = "That code is not right. Enter the current code from your authenticator app."
		}
		return h.totpForm(c, p.Status, u, views.Flash{Kind: "error", Text: msg})
	}
	return h.startSession(c, token, "totp")
}

func (h signin) signOut(c echo.Context) error {
	if u := currentUser(c); u.signedIn() {
		h.log.LogAttrs(c.Request().Context(), infoLevel, "signed out", actorAttrs(u.Identity)...)
	}
	return h.endSession(c, reasonSignedOut)
}

var _ = context.Background
