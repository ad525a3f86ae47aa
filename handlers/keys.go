package handlers

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/views"
)

// keys serves the keys page and every action on keys. Each action lives in
// its own keys_*.go file.
type keys struct {
	*Server
	flash      flashes
	fleetCache *fleetCache
}

func newKeys(s *Server) keys {
	return keys{Server: s, flash: newFlashes(s.cfg), fleetCache: newFleetCache(s.now)}
}

func (h keys) routes(g *echo.Group) {
	g.GET("/keys", h.list).Name = routeKeys
	g.GET("/keys/new", h.newForm).Name = routeKeyNew
	g.POST("/keys/new", h.create).Name = routeKeyCreate
	g.GET("/keys/new/devices", h.deviceOptions).Name = routeKeyDevices
	g.GET("/keys/:id/edit", h.edit).Name = routeKeyEdit
	g.GET("/keys/:id/row", h.showRow).Name = routeKeyRow
	g.GET("/keys/:id/actions", h.actions).Name = routeKeyActions
	g.POST("/keys/:id/edit", h.update).Name = routeKeyUpdate
	g.POST("/keys/:id/expire", h.expireNow).Name = routeKeyExpire
	g.POST("/keys/:id/expiry", h.setExpiry).Name = routeKeyExpiry
	g.GET("/keys/:id/revoke", h.confirmRevoke).Name = routeKeyRevoke
	g.POST("/keys/:id/revoke", h.revoke).Name = routeKeyDelete
	g.GET("/keys/:id/rotate", h.rotateForm).Name = routeKeyRotate
	g.POST("/keys/:id/rotate", h.rotate).Name = routeKeyRotateDo
	g.POST("/keys/bulk", h.bulk).Name = routeKeyBulk
	g.GET("/keys/export", h.export).Name = routeKeyExport
}

// api is balena as the signed-in user.
func (h keys) api(c echo.Context) *apiclient.Session {
	u := currentUser(c)
	return h.balena.As(u.Token).WithIdentity(u.Identity)
}

// fleets lists the fleets the signed-in user can reach, for the pickers.
func (h keys) fleets(c echo.Context) ([]apiclient.Fleet, error) {
	return h.fleetCache.get(c.Request().Context(), currentUser(c).Token, h.api(c))
}

// loadKey reads the key named in the path. A malformed id is a 404 like
// any key the user cannot see.
func (h keys) loadKey(c echo.Context) (apiclient.APIKey, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return apiclient.APIKey{}, echo.NewHTTPError(http.StatusNotFound, "There is no key "+quote(c.Param("id"))+".")
	}
	return h.api(c).GetKey(c.Request().Context(), id)
}

// returnTo is where an action goes back to: the keys view it came from, if
// the form said so and it is one, else the plain keys page.
func (h keys) returnTo(c echo.Context) string {
	base := h.url(routeKeys)
	raw := c.FormValue("return")
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Path != base || strings.HasPrefix(raw, "//") {
		return base
	}
	return parseKeyFilter(u.Query()).url(base)
}

// mayChange refuses a change that balena would refuse this session anyway
// (API-key sessions may not PATCH or DELETE keys), before asking balena.
func (h keys) mayChange(c echo.Context) error {
	if !currentUser(c).CanChangeKeys {
		return echo.NewHTTPError(http.StatusForbidden, "You signed in with an API key, and balena does not let API keys change or revoke keys. Sign in with your password or a session token to do that.")
	}
	return nil
}

// writeFailed explains a refused change. balena answers 401 both for a dead
// token and for a change the token may not make; only the first ends the
// session, so a second question tells them apart.
func (h keys) writeFailed(c echo.Context, err error) error {
	if apiclient.ErrorCode(err) == apiclient.CodeUnauthorized {
		if _, werr := h.api(c).WhoAmI(c.Request().Context()); werr == nil {
			msg := "balena did not allow this change."
			if currentUser(c).APIKey {
				msg += " Sessions signed in with an API key may not change keys on this balena server; sign in with your password."
			}
			return echo.NewHTTPError(http.StatusForbidden, msg)
		}
	}
	return err
}

// audit records one change made through the portal: who, what, which key,
// the values before and after, and the outcome. Never a secret.
func (h keys) audit(c echo.Context, action string, k apiclient.APIKey, change []slog.Attr, err error) {
	u := currentUser(c)
	outcome := "ok"
	level := slog.LevelInfo
	if err != nil {
		outcome, level = "failed: "+describe(err).Message, slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("action", action),
		slog.Int64("actor", u.Identity.ActorID),
		slog.String("username", u.Identity.Username),
	}
	// balena answers a creation with the secret alone; where the new key
	// cannot be found afterwards (see newKeyID) the event names no id.
	if k.ID != 0 {
		attrs = append(attrs, slog.Int64("key", k.ID))
	}
	attrs = append(append(attrs,
		slog.String("kind", string(k.Kind)),
		slog.String("owner", ownerOf(k)),
		slog.String("outcome", outcome),
		slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
	), change...)
	h.trail.record(c.Request().Context(), level, attrs...)
}

// expiryText says when a new key expires, for the page showing its secret.
func expiryText(t *time.Time, now time.Time) string {
	if t == nil {
		return "never"
	}
	return "on " + t.UTC().Format("2 January 2006") + " (" + views.RelTime(*t, now) + ")"
}

func optTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
