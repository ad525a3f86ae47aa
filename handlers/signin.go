package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/session"
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

// signedInRoutes are those that need a live session.
func (h signin) signedInRoutes(g *echo.Group) {
	g.POST("/signout/everywhere", h.signOutEverywhere).Name = routeSignOutAll
}

// reasons words why someone landed on sign-in; only these fixed texts are
// ever shown, never text from the URL.
var reasons = map[string]views.Flash{
	reasonSignedOut:    {Kind: "success", Text: "You have signed out."},
	reasonExpired:      {Kind: "info", Text: "Your balena session has expired. Sign in again."},
	reasonIdle:         {Kind: "info", Text: "You were signed out after a period of inactivity."},
	reasonRevoked:      {Kind: "warning", Text: "balena no longer accepts your token (it expired or was revoked). Sign in again."},
	reasonCodeLate:     {Kind: "info", Text: "The sign-in waited too long for its two-factor code. Sign in again."},
	reasonSignedOutAll: {Kind: "success", Text: "You have signed out everywhere: every session of your account in this portal has ended, in every browser."},
	reasonEndedAll:     {Kind: "info", Text: "Your account was signed out everywhere, from another browser. Sign in again."},
}

func (h signin) show(c echo.Context) error {
	if currentUser(c).SignedIn() {
		return c.Redirect(http.StatusSeeOther, h.landing(c.QueryParam("next")))
	}
	// A sign-in could not be kept: say so before anyone types a password.
	if err := h.sessions.Usable(c.Request().Context()); err != nil {
		return err
	}
	return h.form(c, http.StatusOK, "", "", reasons[c.QueryParam("reason")])
}

// landing is where a finished sign-in goes: next if it is safe, else the
// keys page.
func (h signin) landing(next string) string {
	if n := h.safeNext(next); n != "" {
		return n
	}
	return h.url(routeKeys)
}

func (h signin) form(c echo.Context, status int, email, errorFor string, flash views.Flash) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, status, views.SignInPage(views.SignIn{
		Page: h.page(c, "Sign in"), Action: h.url(routeSignInSubmit),
		Email: email, ErrorFor: errorFor, Flash: flash, Next: h.safeNext(c.FormValue("next")),
	}))
}

func (h signin) submit(c echo.Context) error {
	ctx := c.Request().Context()
	// Neither balena nor the sign-in limits are asked for a sign-in that
	// could not be kept.
	if err := h.sessions.Usable(ctx); err != nil {
		return err
	}
	if c.FormValue("method") == "token" {
		token := strings.TrimSpace(c.FormValue("token"))
		if token == "" {
			return h.form(c, http.StatusBadRequest, "", "token", views.Flash{Kind: "error", Text: "Paste a session token or an API key."})
		}
		try, wait, which := h.throttle.allow(h.now(), c.RealIP(), "")
		if wait > 0 {
			return h.form(c, tooMany(c, wait), "", "token", throttled(wait, which))
		}
		return h.startSession(c, token, "token", try)
	}

	email := strings.TrimSpace(c.FormValue("email"))
	password := c.FormValue("password")
	if email == "" || password == "" {
		return h.form(c, http.StatusBadRequest, email, "password", views.Flash{Kind: "error", Text: "Enter your email and password."})
	}
	try, wait, which := h.throttle.allow(h.now(), c.RealIP(), email)
	if wait > 0 {
		return h.form(c, tooMany(c, wait), email, "password", throttled(wait, which))
	}
	token, err := h.balena.Login(ctx, email, password)
	h.throttle.settle(h.now(), try, err)
	if err != nil {
		return h.failed(c, err, email, "password")
	}
	if claims, ok := apiclient.ParseClaims(token); ok && claims.TwoFactorRequired {
		// Keep the partial token server-side under a fresh session id until
		// the code arrives.
		now := h.now()
		if err := h.beginSession(c, &session.User{PartialToken: token, PartialEmail: email, SignedInAt: now, LastSeen: now, Next: h.safeNext(c.FormValue("next"))}); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, h.url(routeTOTP))
	}
	return h.startSession(c, token, "password", nil)
}

// tooMany sets Retry-After for a refused attempt and returns 429.
func tooMany(c echo.Context, wait time.Duration) int {
	c.Response().Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	return http.StatusTooManyRequests
}

// throttled words the portal's own sign-in limit.
func throttled(wait time.Duration, which string) views.Flash {
	text := "Too many sign-in attempts from your network address. "
	if which == limitedAccount {
		text = "Too many sign-in attempts for this account. "
	}
	return views.Flash{Kind: "error", Text: text + apikeys.RetryIn(wait)}
}

// balenaThrottled words balena's own throttle (a 429 from it) after what,
// and passes its Retry-After on.
func balenaThrottled(c echo.Context, err error, what string) string {
	var wait time.Duration
	var e *apiclient.Error
	if errors.As(err, &e) {
		wait = e.RetryAfter
	}
	if wait > 0 {
		tooMany(c, wait)
	}
	return what + apikeys.RetryIn(wait)
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
		msg = balenaThrottled(c, err, "balena refuses sign-ins for this account for now, after too many attempts. ")
		if errorFor == "token" {
			msg = balenaThrottled(c, err, "balena is refusing requests for now. ")
		}
	}
	return h.form(c, p.Status, email, errorFor, views.Flash{Kind: "error", Text: msg})
}

// tokenProblem is why a pasted token cannot work, read from its claims
// before balena is asked; "" when it may.
func tokenProblem(token string, now time.Time) string {
	claims, ok := apiclient.ParseClaims(token)
	switch {
	case !ok:
		return ""
	case claims.TwoFactorRequired:
		return "That token is still waiting for its two-factor code. Sign in with your email and password instead."
	case claims.Expired(now):
		return "That session token expired on " + claims.Expires.UTC().Format("2 January 2006 at 15:04 UTC") +
			". Copy a new one from the balena dashboard, or sign in with your email and password."
	}
	return ""
}

// startSession checks token with balena and, if it is good, makes a new
// session for it. try is the throttled attempt a pasted token is, settled
// by balena's answer (nil for a token balena just issued).
func (h signin) startSession(c echo.Context, token, via string, try *attempt) error {
	ctx := c.Request().Context()
	now := h.now()
	email := ""
	if via == "password" {
		email = c.FormValue("email")
	}
	if via == "token" {
		if msg := tokenProblem(token, now); msg != "" {
			h.throttle.settle(now, try, nil) // balena was not asked: no guess was made
			return h.form(c, http.StatusUnauthorized, "", via, views.Flash{Kind: "error", Text: msg})
		}
	}
	id, err := h.balena.As(token).WhoAmI(ctx)
	h.throttle.settle(h.now(), try, err)
	if err != nil {
		return h.failed(c, err, email, via)
	}
	h.throttle.learn(id.Username, id.Email)
	if id.ActorType != "user" {
		// A fleet's provisioning key or a device key: balena lets it list
		// no API keys at all, so a session with it could show nothing.
		what := "a fleet's provisioning key (" + id.Slug + ")"
		if id.ActorType == "device" {
			what = "a device's key (" + id.UUID + ")"
		}
		return h.form(c, http.StatusForbidden, "", via, views.Flash{Kind: "error",
			Text: "That is " + what + ", which cannot list API keys. Sign in with your balena account: email and password, a session token, or one of your own API keys."})
	}
	next := c.FormValue("next")
	if p := currentUser(c); p != nil && p.PartialToken != "" {
		next = p.Next // the two-factor step carried it
	}
	u := &session.User{Identity: id, SignedInAt: now, LastSeen: now}
	u.SetToken(token, now)
	if err := h.beginSession(c, u); err != nil {
		return err
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "signed in", actorAttrs(id)...)
	return c.Redirect(http.StatusSeeOther, h.landing(next))
}

// partialFor is how long a password sign-in waits for its 2FA code.
const partialFor = 10 * time.Minute

// partial is the sign-in waiting for a code, or nil; one that waited
// longer than partialFor is ended (and the response written, ended true).
func (h signin) partial(c echo.Context) (u *session.User, ended bool, err error) {
	u = currentUser(c)
	if u == nil || u.PartialToken == "" {
		return nil, true, c.Redirect(http.StatusSeeOther, h.url(routeSignIn))
	}
	if h.now().Sub(u.SignedInAt) > partialFor {
		return nil, true, h.endSession(c, reasonCodeLate)
	}
	return u, false, nil
}

func (h signin) showTOTP(c echo.Context) error {
	u, ended, err := h.partial(c)
	if ended {
		return err
	}
	return h.totpForm(c, http.StatusOK, u, views.Flash{})
}

func (h signin) totpForm(c echo.Context, status int, u *session.User, flash views.Flash) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, status, views.TOTPPage(views.TOTP{
		Page: h.page(c, "Two-factor authentication"), Action: h.url(routeTOTPSubmit),
		Email: u.PartialEmail, Flash: flash,
	}))
}

func (h signin) submitTOTP(c echo.Context) error {
	u, ended, err := h.partial(c)
	if ended {
		return err
	}
	code := strings.TrimSpace(c.FormValue("code"))
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return h.totpForm(c, http.StatusBadRequest, u, views.Flash{Kind: "error", Text: "Enter the 6-digit code from your authenticator app."})
	}
	try, wait, which := h.throttle.allow(h.now(), c.RealIP(), u.PartialEmail)
	if wait > 0 {
		return h.totpForm(c, tooMany(c, wait), u, throttled(wait, which))
	}
	token, err := h.balena.VerifyTOTP(c.Request().Context(), u.PartialToken, code)
	h.throttle.settle(h.now(), try, err)
	if err != nil {
		p := describe(err)
		msg := p.Message
		switch apiclient.ErrorCode(err) {
		case apiclient.CodeTwoFactor:
			msg = "That code is not right. Enter the current code from your authenticator app."
		case apiclient.CodeUnauthorized:
			// The partial token itself is no longer good.
			return h.endSession(c, reasonCodeLate)
		case apiclient.CodeRateLimited:
			msg = balenaThrottled(c, err, "balena refuses codes for this account for now, after too many attempts. ")
		}
		return h.totpForm(c, p.Status, u, views.Flash{Kind: "error", Text: msg})
	}
	return h.startSession(c, token, "totp", nil)
}

func (h signin) signOut(c echo.Context) error {
	if u := currentUser(c); u.SignedIn() {
		h.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "signed out", actorAttrs(u.Identity)...)
	}
	return h.endSession(c, reasonSignedOut)
}

// signOutEverywhere ends every session of the signed-in account, on every
// replica, this one included.
func (h signin) signOutEverywhere(c echo.Context) error {
	u := currentUser(c)
	if err := h.sessions.EndEverywhere(c.Request().Context(), u, h.now()); err != nil {
		return err
	}
	h.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "signed out everywhere", actorAttrs(u.Identity)...)
	return h.endSession(c, reasonSignedOutAll)
}
