package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/views"
)

// confirmRevoke asks before a key is deleted, naming it.
func (h keys) confirmRevoke(c echo.Context) error {
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	ret := h.returnTo(c) // the view the revoke link was clicked in
	return render(c, http.StatusOK, views.KeyRevokePage(views.KeyRevoke{
		Page:      h.keysPage(c, "Revoke key"),
		Action:    h.url(routeKeyDelete, k.ID),
		Key:       keyRow(k, currentUser(c).Identity, h.now()),
		Label:     apikeys.Label(k),
		Return:    ret,
		CancelURL: ret,
	}))
}

// revoke deletes a key. balena refuses it from that moment.
func (h keys) revoke(c echo.Context) error {
	k, err := h.rules.Revoke(c.Request().Context(), h.caller(c), keyID(c))
	if err != nil {
		return err
	}
	h.flash.set(c, views.Flash{Kind: "success", Text: "Revoked " + apikeys.Label(k) + "."})
	return c.Redirect(http.StatusSeeOther, h.leaving(c))
}
