package handlers

import (
	"encoding/gob"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
)

const (
	sessionCookie = "keyportal_session"
	sessionValue  = "user"
	ctxUser       = "user"
	// touchEvery bounds how often a request rewrites its session to record
	// activity for the idle timeout: once a minute is precise enough.
	touchEvery = time.Minute
)

// userSession is what the server keeps for a browser. It lives in the
// session store, never in the cookie, which carries only an opaque id.
type userSession struct {
	Token      string // the balena session token or API key
	APIKey     bool   // Token is an API key, not a session JWT
	Identity   apiclient.Identity
	SignedInAt time.Time
	LastSeen   time.Time
	Expires    time.Time // the token's own expiry; zero for API keys

	// A sign-in waiting for its two-factor code.
	PartialToken string
	PartialEmail string
}

func init() { gob.Register(&userSession{}) }

// signedIn reports whether the session holds a usable token.
func (u *userSession) signedIn() bool { return u != nil && u.Token != "" }

// sessionStore keeps userSessions server-side behind gorilla/sessions.
type sessionStore struct {
	store sessions.Store
	idle  time.Duration
}

func newSessionStore(cfg Config) (*sessionStore, error) {
	secrets := cfg.SessionKeys
	if len(secrets) == 0 {
		// Demo only (Validate refuses this otherwise): sessions end with the process.
		secrets = [][]byte{securecookie.GenerateRandomKey(48)}
	}
	pairs, err := cookieKeyPairs(secrets)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.DataDir, "sessions")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("session directory: %w", err)
	}
	fs := sessions.NewFilesystemStore(dir, pairs...)
	fs.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int((7 * 24 * time.Hour).Seconds()), // a balena session token's life
		HttpOnly: true,
		Secure:   cfg.CookieSecure,
		SameSite: http.SameSiteLaxMode,
	}
	fs.MaxAge(fs.Options.MaxAge)
	return &sessionStore{store: fs, idle: cfg.IdleTimeout}, nil
}

// load returns the browser's session, or nil. A cookie that fails to decode
// (an old key, tampering, a deleted session) is treated as no session.
func (s *sessionStore) load(r *http.Request) *userSession {
	sess, err := s.store.Get(r, sessionCookie)
	if err != nil {
		return nil
	}
	u, _ := sess.Values[sessionValue].(*userSession)
	return u
}

// start replaces whatever session the browser had with a new one under a
// new id, so that an id planted before sign-in is worthless after it.
func (s *sessionStore) start(c echo.Context, u *userSession) error {
	if err := s.end(c); err != nil {
		return err
	}
	sess := sessions.NewSession(s.store, sessionCookie)
	opts := *s.options()
	sess.Options = &opts
	sess.IsNew = true
	sess.Values[sessionValue] = u
	return sess.Save(c.Request(), c.Response())
}

// save writes u back under the browser's current session id.
func (s *sessionStore) save(c echo.Context, u *userSession) error {
	sess, err := s.store.Get(c.Request(), sessionCookie)
	if err != nil && sess == nil {
		return err
	}
	sess.Values[sessionValue] = u
	return sess.Save(c.Request(), c.Response())
}

// end deletes the server-side session and clears the cookie.
func (s *sessionStore) end(c echo.Context) error {
	sess, err := s.store.Get(c.Request(), sessionCookie)
	if err != nil || sess.IsNew {
		return nil
	}
	sess.Options.MaxAge = -1
	if err := sess.Save(c.Request(), c.Response()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (s *sessionStore) options() *sessions.Options {
	return s.store.(*sessions.FilesystemStore).Options
}

// loadSession puts the browser's session, if any, into the context.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if u := s.sessions.load(c.Request()); u != nil {
			c.Set(ctxUser, u)
		}
		return next(c)
	}
}

// currentUser is the session loadSession found, or nil.
func currentUser(c echo.Context) *userSession {
	u, _ := c.Get(ctxUser).(*userSession)
	return u
}

// Reasons a browser lands on the sign-in page; the page words each one.
const (
	reasonSignedOut = "signed-out"
	reasonExpired   = "expired"
	reasonIdle      = "idle"
	reasonRevoked   = "revoked"
)

// requireUser sends anyone without a live session to sign-in, ending
// sessions that sat idle too long or whose token has expired.
func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if !u.signedIn() {
			return s.toSignIn(c, "")
		}
		now := s.now()
		switch {
		case !u.Expires.IsZero() && !now.Before(u.Expires):
			return s.endSession(c, reasonExpired)
		case s.sessions.idle > 0 && now.Sub(u.LastSeen) > s.sessions.idle:
			return s.endSession(c, reasonIdle)
		}
		if now.Sub(u.LastSeen) > touchEvery {
			u.LastSeen = now
			if err := s.sessions.save(c, u); err != nil {
				return err
			}
		}
		// Signed-in pages hold account data: never let a cache keep them.
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

// endSession deletes the session and sends the browser to sign-in.
func (s *Server) endSession(c echo.Context, reason string) error {
	if err := s.sessions.end(c); err != nil {
		return err
	}
	c.Set(ctxUser, nil)
	return s.toSignIn(c, reason)
}

// toSignIn redirects to the sign-in page, with htmx's own redirect header
// for htmx requests so the whole page changes rather than a fragment.
func (s *Server) toSignIn(c echo.Context, reason string) error {
	target := s.url(routeSignIn)
	if reason != "" {
		target += "?reason=" + reason
	}
	if isHTMX(c) {
		c.Response().Header().Set(hxRedirect, target)
		return c.NoContent(http.StatusUnauthorized)
	}
	return c.Redirect(http.StatusSeeOther, target)
}
