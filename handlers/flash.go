package handlers

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/internal/session"
	"github.com/keyportal/keyportal/views"
)

const flashCookie = "keyportal_flash"

// flashFor is how long a flash waits for the page it is meant for.
const flashFor = time.Minute

// flashes carries one-line messages across a redirect.
type flashes struct {
	signer *session.Signer
	secure bool
	path   string // the cookie's Path: the base path
}

// newFlashes signs flash cookies with a key derived from the newest
// session secret (a random one in demo mode, when there is none).
func newFlashes(cfg config.Config) flashes {
	return flashes{signer: session.NewSigner(cfg, "flash", flashFor), secure: cfg.CookieSecure, path: cfg.CookiePath()}
}

// setFlash leaves a message for the next page, the one a redirect after a
// change lands on (post, redirect, get). It rides in a short-lived cookie
// signed like the session, so it survives the redirect and nobody else can
// plant text in the page.
func (s flashes) set(c echo.Context, f views.Flash) {
	b, _ := json.Marshal(f)
	v, err := s.signer.Encode(flashCookie, string(b))
	if err != nil {
		return // a lost confirmation is not worth failing the change for
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: v, Path: s.path, MaxAge: int(flashFor.Seconds()), HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// takeFlash returns the waiting message, if any, and clears it.
func (s flashes) take(c echo.Context) views.Flash {
	ck, err := c.Cookie(flashCookie)
	if err != nil {
		return views.Flash{}
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Path: s.path, MaxAge: -1, Expires: time.Unix(0, 0), HttpOnly: true,
		Secure: s.secure, SameSite: http.SameSiteLaxMode})
	raw, err := s.signer.Decode(flashCookie, ck.Value)
	var f views.Flash
	if err != nil || json.Unmarshal([]byte(raw), &f) != nil {
		return views.Flash{}
	}
	return f
}
