package handlers

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/views"
)

// expireNow sets a key's expiry to this moment: balena refuses it from then
// on, and it can be revived by setting a later expiry.
func (h keys) expireNow(c echo.Context) error {
	now := h.now().UTC()
	return h.changeExpiry(c, "expire", &now, "Expired")
}

// setExpiry sets or clears a key's expiry from the row menu
// (expiry=never clears it; a preset or custom date sets it).
func (h keys) setExpiry(c echo.Context) error {
	f := readKeyForm(c.FormValue)
	expiry, _ := f.expiry(h.now(), false)
	if err := invalid(f.Errors); err != nil {
		return err
	}
	if expiry == nil {
		return h.changeExpiry(c, "clear_expiry", nil, "Cleared the expiry of")
	}
	return h.changeExpiry(c, "set_expiry", expiry, "Set the expiry of")
}

// changeExpiry applies one expiry change and answers with the updated row
// (htmx) or by going back to the view the action came from.
func (h keys) changeExpiry(c echo.Context, action string, expiry *time.Time, done string) error {
	if err := h.mayChange(c); err != nil {
		return err
	}
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	err = h.api(c).UpdateKey(c.Request().Context(), k.ID, apiclient.KeyUpdate{ExpiryDate: expiry, ClearExpiry: expiry == nil})
	h.audit(c, action, k, []slog.Attr{slog.String("old_expiry", optTime(k.ExpiryDate)), slog.String("new_expiry", optTime(expiry))}, err)
	if err != nil {
		return h.writeFailed(c, err)
	}
	k.ExpiryDate = expiry
	if isHTMX(c) {
		return h.renderRow(c, k)
	}
	h.flash.set(c, views.Flash{Kind: "success", Text: done + " " + keyLabel(k) + "."})
	return c.Redirect(http.StatusSeeOther, h.returnTo(c))
}
