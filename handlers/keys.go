package handlers

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/views"
)

// keyRules is what the keys pages need of the rules of keys
// (*apikeys.Service): they parse a request, ask, and render the answer.
type keyRules interface {
	Now() time.Time
	Policy() apikeys.Policy
	Key(ctx context.Context, c apikeys.Caller, id int64) (apiclient.APIKey, error)
	PlanCreate(ctx context.Context, c apikeys.Caller, r apikeys.NewKeyRequest) (apikeys.NewKeyPlan, error)
	Create(ctx context.Context, c apikeys.Caller, p apikeys.NewKeyPlan) (apikeys.Created, error)
	Update(ctx context.Context, c apikeys.Caller, id int64, e apikeys.Edit) (apikeys.Updated, error)
	SetExpiry(ctx context.Context, c apikeys.Caller, id int64, e apikeys.Expiry) (apiclient.APIKey, error)
	ExpireNow(ctx context.Context, c apikeys.Caller, id int64) (apiclient.APIKey, error)
	Revoke(ctx context.Context, c apikeys.Caller, id int64) (apiclient.APIKey, error)
	PlanRotate(ctx context.Context, c apikeys.Caller, id int64, r apikeys.RotateRequest) (apikeys.RotationPlan, error)
	Rotate(ctx context.Context, c apikeys.Caller, p apikeys.RotationPlan) (apikeys.Rotation, error)
	SameExpiryOffered(k apiclient.APIKey) bool
	FreshExpiry(k apiclient.APIKey) *time.Time
	Select(ctx context.Context, c apikeys.Caller, sel apikeys.Selection) ([]apiclient.APIKey, error)
	Bulk(ctx context.Context, c apikeys.Caller, action apikeys.BulkAction, keys []apiclient.APIKey) (apikeys.BulkResult, error)
}

// keys serves the keys page and every action on keys. Each action lives in
// its own keys_*.go file.
type keys struct {
	*Server
	flash      flashes
	fleetCache *fleetCache
	history    keyHistory // the audit trail (the server's auditDB, always open)
}

func newKeys(s *Server) keys {
	return keys{Server: s, flash: newFlashes(s.cfg), fleetCache: newFleetCache(s.now), history: s.auditDB}
}

func (h keys) routes(g *echo.Group) {
	g.GET("/keys", h.list).Name = routeKeys
	g.GET("/overview", h.overview).Name = routeOverview
	g.GET("/keys/new", h.newForm).Name = routeKeyNew
	g.POST("/keys/new", h.create).Name = routeKeyCreate
	g.GET("/keys/new/devices", h.deviceOptions).Name = routeKeyDevices
	g.GET("/keys/:id", h.show).Name = routeKeyShow
	g.GET("/keys/:id/edit", h.edit).Name = routeKeyEdit
	g.GET("/keys/:id/row", h.showRow).Name = routeKeyRow
	g.GET("/keys/:id/actions", h.actions).Name = routeKeyActions
	g.POST("/keys/:id/edit", h.update).Name = routeKeyUpdate
	g.GET("/keys/:id/expire", h.confirmExpire).Name = routeKeyExpireAsk
	g.POST("/keys/:id/expire", h.expireNow).Name = routeKeyExpire
	g.GET("/keys/:id/expiry", h.confirmClearExpiry).Name = routeKeyClearAsk
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

// caller is the signed-in user as the rules of keys see them: their
// balena (with the fleet list cached), who they are, and the request id
// that ties their audit events to the request log.
func (h keys) caller(c echo.Context) apikeys.Caller {
	u := currentUser(c)
	return apikeys.Caller{
		API:      cachedFleets{Session: h.api(c), token: u.Token, cache: h.fleetCache},
		Identity: u.Identity,
		APIKey:   u.APIKey,
		Ref:      c.Response().Header().Get(echo.HeaderXRequestID),
	}
}

// fleets lists the fleets the signed-in user can reach, for the pickers.
func (h keys) fleets(c echo.Context) ([]apiclient.Fleet, error) {
	return h.fleetCache.get(c.Request().Context(), currentUser(c).Token, h.api(c))
}

// keyID is the key named in the path; a malformed one is a key nobody
// can see (0), which the rules answer with a 404 like any other.
func keyID(c echo.Context) int64 {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 0 {
		return 0
	}
	return id
}

// loadKey reads the key named in the path.
func (h keys) loadKey(c echo.Context) (apiclient.APIKey, error) {
	return h.rules.Key(c.Request().Context(), h.caller(c), keyID(c))
}

// returnTo is where an action goes back to: the keys view it came from,
// or the page of the key it acts on, if the form said so and it is one,
// else the plain keys page.
func (h keys) returnTo(c echo.Context) string {
	return h.backTo(c.FormValue("return"), keyID(c))
}

// backTo is raw, rebuilt from what it means, if it is a keys view or the
// page of key id (0: none), else the plain keys page: a return address
// from a form never leads off the portal.
func (h keys) backTo(raw string, id int64) string {
	base := h.url(routeKeys)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(raw, "//") {
		return base
	}
	switch {
	case u.Path == base:
		return parseKeyFilter(u.Query()).URL(base)
	case id > 0 && u.Path == h.url(routeKeyShow, id):
		return h.keyPage(id, h.backTo(u.Query().Get("return"), 0))
	}
	return base
}

// keysPage is a full page of the keys area (a key's page, its forms and
// confirmations, the bulk pages): the header marks Keys on each.
func (h keys) keysPage(c echo.Context, title string) views.Page {
	p := h.page(c, title)
	p.Current = views.NavKeys
	return p
}

// keyPage is the page of key id, remembering the keys view to go back to.
func (h keys) keyPage(id int64, view string) string {
	return h.url(routeKeyShow, id) + h.backQuery(view)
}

// backQuery is the query of a key's page that remembers the keys view
// it was opened from; none for the plain keys page.
func (h keys) backQuery(view string) string {
	if view == h.url(routeKeys) {
		return ""
	}
	return "?" + url.Values{"return": {view}}.Encode()
}

// isKeyPage reports whether ret, a returnTo, is the page of key id.
func (h keys) isKeyPage(ret string, id int64) bool {
	u, err := url.Parse(ret)
	return err == nil && u.Path == h.url(routeKeyShow, id)
}

// leaving is where an action that ends a key goes back to: where it came
// from, unless that is the key's own page, which then has nothing to show;
// the keys view the page was opened from instead.
func (h keys) leaving(c echo.Context) string {
	ret := h.returnTo(c)
	if h.isKeyPage(ret, keyID(c)) {
		u, _ := url.Parse(ret)
		return h.backTo(u.Query().Get("return"), 0)
	}
	return ret
}

// expiryText says when a new key expires, for the page showing its secret.
func expiryText(t *time.Time, now time.Time) string {
	if t == nil {
		return "never"
	}
	return "on " + t.UTC().Format("2 January 2006") + " (" + views.RelTime(*t, now) + ")"
}

// createdKey is a new key as the page showing its secret, once, has it.
func createdKey(made apikeys.Created, now time.Time) *views.CreatedKey {
	k := made.Key
	return &views.CreatedKey{Secret: made.Secret, Name: k.Name, Kind: string(k.Kind), Owner: apikeys.Owner(k), Expires: expiryText(k.ExpiryDate, now)}
}

// sessionOver reports whether err means balena no longer accepts the
// user's token: the error handler then ends the session.
func sessionOver(err error) bool { return apikeys.Code(err) == apiclient.CodeUnauthorized }

// failedFlash is a failed write as a form shows it above the input it
// keeps, in the same words and with the same status as the error page.
func (h keys) failedFlash(c echo.Context, err error) (int, views.Flash) {
	return describe(err).Status, h.failure(c, err)
}
