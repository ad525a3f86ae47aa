package handlers

import (
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/session"
)

// ctxUser is where loadSession leaves the browser's session.
const ctxUser = "user"

// loadSession puts the browser's session, if any, into the context.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, err := s.sessions.Load(c.Request())
		if err != nil {
			return err
		}
		if u != nil {
			c.Set(ctxUser, u)
		}
		return next(c)
	}
}

// currentUser is the session loadSession found, or nil.
func currentUser(c echo.Context) *session.User {
	u, _ := c.Get(ctxUser).(*session.User)
	return u
}

// Reasons a browser lands on the sign-in page; the page words each one.
const (
	reasonSignedOut = "signed-out"
	reasonExpired   = "expired"
	reasonIdle      = "idle"
	reasonRevoked   = "revoked"
	reasonCodeLate  = "code-timeout"
	// The browser that signed its account out everywhere, and the others.
	reasonSignedOutAll = "signed-out-everywhere"
	reasonEndedAll     = "ended-everywhere"
)

// requireUser sends anyone without a live session to sign-in, ending
// sessions that sat idle too long or whose token has expired, and
// refreshes session tokens as they age.
func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if !u.SignedIn() {
			return s.toSignIn(c, "")
		}
		now, idle := s.now(), s.sessions.IdleTimeout()
		ended, err := s.sessions.EndedEverywhere(c.Request().Context(), u)
		if err != nil {
			return err
		}
		switch {
		case ended:
			return s.endSession(c, reasonEndedAll)
		case !u.Expires.IsZero() && !now.Before(u.Expires):
			return s.endSession(c, reasonExpired)
		case idle > 0 && now.Sub(u.LastSeen) > idle:
			return s.endSession(c, reasonIdle)
		}
		changed := false
		if u.RefreshDue(now) {
			ended, err := s.refresh(c, u, now)
			if ended || err != nil {
				return err
			}
			changed = true
		}
		if u.Touch(now, idle) {
			changed = true
		}
		if changed {
			if err := s.sessions.Save(c.Response(), c.Request(), u); err != nil {
				return err
			}
		}
		// Signed-in pages hold account data: never let a cache keep them.
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

// refresh exchanges the session token for a new one. A token balena
// refuses ends the session (ended is then true and the response written);
// any other failure keeps the current token, which is still valid, and is
// tried again a minute later.
func (s *Server) refresh(c echo.Context, u *session.User, now time.Time) (ended bool, err error) {
	ctx := c.Request().Context()
	token, err := s.balena.As(u.Token).RefreshToken(ctx, "")
	if err != nil {
		if apiclient.ErrorCode(err) == apiclient.CodeUnauthorized {
			return true, s.endSession(c, reasonRevoked)
		}
		u.RefreshFailed = now
		s.log.LogAttrs(ctx, slog.LevelWarn, "session token refresh failed; keeping the current token",
			append(actorAttrs(u.Identity), slog.String("error", err.Error()))...)
		return false, nil
	}
	if _, ok := apiclient.ParseClaims(token); !ok {
		u.RefreshFailed = now
		s.log.LogAttrs(ctx, slog.LevelWarn, "session token refresh answered something that is not a token", actorAttrs(u.Identity)...)
		return false, nil
	}
	u.SetToken(token, now)
	s.log.LogAttrs(ctx, slog.LevelInfo, "session token refreshed", append(actorAttrs(u.Identity), slog.Time("expires", u.Expires))...)
	return false, nil
}

// endSession deletes the session and sends the browser to sign-in.
func (s *Server) endSession(c echo.Context, reason string) error {
	if err := s.sessions.End(c.Response(), c.Request()); err != nil {
		return err
	}
	c.Set(ctxUser, nil)
	return s.toSignIn(c, reason)
}

// beginSession replaces the browser's session with u under a new id (see
// session.Store.Start). The CSRF cookie goes too: the next page gets a
// fresh token, so a token seen before sign-in is worthless after it.
func (s *Server) beginSession(c echo.Context, u *session.User) error {
	if err := s.sessions.Start(c.Response(), c.Request(), u); err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: csrfCookie, Path: s.cfg.CookiePath(), MaxAge: -1, Expires: time.Unix(0, 0),
		HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteLaxMode})
	return nil
}

// toSignIn redirects to the sign-in page, with htmx's own redirect header
// for htmx requests so the whole page changes rather than a fragment.
func (s *Server) toSignIn(c echo.Context, reason string) error {
	q := url.Values{}
	if reason != "" {
		q.Set("reason", reason)
	}
	// Come back to the page that was asked for (a bookmarked or shared
	// view), or, for htmx, to the page the request came from.
	from := ""
	if isHTMX(c) {
		if u, err := url.Parse(c.Request().Header.Get("HX-Current-URL")); err == nil {
			from = u.RequestURI()
		}
	} else if c.Request().Method == http.MethodGet {
		from = c.Request().URL.RequestURI()
	}
	if next := s.safeNext(from); next != "" && next != s.url(routeKeys) {
		q.Set("next", next)
	}
	target := s.url(routeSignIn)
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	if isHTMX(c) {
		c.Response().Header().Set(hxRedirect, target)
		return c.NoContent(http.StatusUnauthorized)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// safeNext returns raw if it is a page of this portal's keys section, its
// overview or its audit trail (views people bookmark and share) to go to
// after sign-in, and "" for anything else, so that a crafted link cannot
// send a fresh sign-in off to another site (an open redirect).
func (s *Server) safeNext(raw string) string {
	keys := s.url(routeKeys)
	u, err := url.Parse(raw)
	if err != nil || raw == "" || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(raw, "/") ||
		strings.HasPrefix(raw, "//") || strings.ContainsAny(raw, "\\\r\n") || path.Clean(u.Path) != u.Path {
		return ""
	}
	if u.Path != keys && !strings.HasPrefix(u.Path, keys+"/") && u.Path != s.url(routeOverview) && u.Path != s.url(routeAudit) {
		return ""
	}
	return u.RequestURI()
}
