package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

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
		Page:      h.page(c, "Revoke key"),
		Action:    h.url(routeKeyDelete, k.ID),
		Key:       keyRow(k, currentUser(c).Identity, h.now()),
		Label:     keyLabel(k),
		Return:    ret,
		CancelURL: ret,
	}))
}

// revoke deletes a key. balena refuses it from that moment.
func (h keys) revoke(c echo.Context) error {
	if err := h.mayChange(c); err != nil {
		return err
	}
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	err = h.api(c).DeleteKey(c.Request().Context(), k.ID)
	h.audit(c, "revoke", k, nil, err)
	if err != nil {
		return h.writeFailed(c, err)
	}
	h.flash.set(c, views.Flash{Kind: "success", Text: "Revoked " + keyLabel(k) + "."})
	return c.Redirect(http.StatusSeeOther, h.returnTo(c))
}
