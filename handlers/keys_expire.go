package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/views"
)

// expireNow sets a key's expiry to this moment: balena refuses it from then
// on, and it can be revived by setting a later expiry.
func (h keys) expireNow(c echo.Context) error {
	k, err := h.rules.ExpireNow(c.Request().Context(), h.caller(c), keyID(c))
	return h.changed(c, k, err, "Expired")
}

// setExpiry sets or clears a key's expiry from the row menu
// (expiry=never clears it; a preset or custom date sets it).
func (h keys) setExpiry(c echo.Context) error {
	f := readKeyForm(c.FormValue)
	k, err := h.rules.SetExpiry(c.Request().Context(), h.caller(c), keyID(c), f.expiry())
	if k.ExpiryDate == nil {
		return h.changed(c, k, err, "Cleared the expiry of")
	}
	return h.changed(c, k, err, "Set the expiry of")
}

// changed answers a change of one key: with its updated row (htmx), or by
// going back to the view the action came from with done in a flash.
func (h keys) changed(c echo.Context, k apiclient.APIKey, err error, done string) error {
	if err != nil {
		return err
	}
	if isHTMX(c) {
		return h.renderRow(c, k)
	}
	h.flash.set(c, views.Flash{Kind: "success", Text: done + " " + apikeys.Label(k) + "."})
	return c.Redirect(http.StatusSeeOther, h.returnTo(c))
}
