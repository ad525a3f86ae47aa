package handlers

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/views"
)

const flashCookie = "keyportal_flash"

// flashes carries one-line messages across a redirect.
type flashes struct {
	codec  *securecookie.SecureCookie
	secure bool
}

// newFlashes signs flash cookies with a key derived from the newest
// session secret (a random one in demo mode, when there is none).
func newFlashes(cfg config.Config) flashes {
	key := securecookie.GenerateRandomKey(32)
	if len(cfg.SessionKeys) > 0 {
		key, _ = hkdf.Key(sha256.New, cfg.SessionKeys[0], nil, "keyportal flash", 32)
	}
	return flashes{codec: securecookie.New(key, nil).MaxAge(60), secure: cfg.CookieSecure}
}

// setFlash leaves a message for the next page, the one a redirect after a
// change lands on (post, redirect, get). It rides in a short-lived cookie
// signed like the session, so it survives the redirect and nobody else can
// plant text in the page.
func (s flashes) set(c echo.Context, f views.Flash) {
	b, _ := json.Marshal(f)
	v, err := s.codec.Encode(flashCookie, string(b))
	if err != nil {
		return // a lost confirmation is not worth failing the change for
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: v, Path: "/", MaxAge: 60, HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// takeFlash returns the waiting message, if any, and clears it.
func (s flashes) take(c echo.Context) views.Flash {
	ck, err := c.Cookie(flashCookie)
	if err != nil {
		return views.Flash{}
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, Expires: time.Unix(0, 0), HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode})
	var raw string
	var f views.Flash
	if s.codec.Decode(flashCookie, ck.Value, &raw) != nil || json.Unmarshal([]byte(raw), &f) != nil {
		return views.Flash{}
	}
	return f
}
