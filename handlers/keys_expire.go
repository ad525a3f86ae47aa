package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/views"
)

// confirmExpire asks before a key is expired now, naming it and what
// happens; the row menu links here (a page, so it works without
// JavaScript too).
func (h keys) confirmExpire(c echo.Context) error {
	return h.confirm(c, func(k apiclient.APIKey, m *views.KeyConfirm) {
		m.Title = "Expire " + apikeys.Label(k) + " now?"
		m.Effect = "Anything that uses it stops working at once: balena refuses it from now on. It can be revived later by setting a later expiry."
		m.Action, m.Button, m.Danger = h.url(routeKeyExpire, k.ID), "Expire now", true
	})
}

// confirmClearExpiry asks before a key is made never to expire, and says
// when that revives an expired key.
func (h keys) confirmClearExpiry(c echo.Context) error {
	if breach := h.rules.Policy().Breach(h.now(), nil, nil); breach != nil {
		// Not offered under a maximum lifetime; a link typed by hand gets
		// the edit page, with why beside its expiry.
		k, err := h.loadKey(c)
		if err != nil {
			return err
		}
		f := keyForm{Name: k.Name, Description: k.Description, Expiry: apikeys.ExpiryNever, Errors: breach}
		return h.editPage(c, http.StatusUnprocessableEntity, k, f, views.Flash{})
	}
	return h.confirm(c, func(k apiclient.APIKey, m *views.KeyConfirm) {
		m.Title = "Make " + apikeys.Label(k) + " never expire?"
		m.Effect = "It will work until it is revoked."
		if k.Expired(h.now()) {
			m.Title = "Revive " + apikeys.Label(k) + "?"
			m.Effect = "Clearing its expiry makes it work again at once, for anything that holds it, and it will work until it is revoked."
		}
		m.Action, m.Expiry, m.Button = h.url(routeKeyExpiry, k.ID), "never", "Clear expiry"
	})
}

// confirm renders a KeyConfirm page for the key in the path.
func (h keys) confirm(c echo.Context, fill func(apiclient.APIKey, *views.KeyConfirm)) error {
	if err := apikeys.MayChange(h.caller(c)); err != nil {
		return err
	}
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	ret := h.returnTo(c) // the view the menu was opened in
	m := views.KeyConfirm{Key: keyRow(k, currentUser(c).Identity, h.now()), Return: ret, CancelURL: ret}
	fill(k, &m)
	if isHTMX(c) {
		rowURL := h.url(routeKeyRow, k.ID) + "?" + url.Values{"return": {ret}}.Encode()
		return render(c, http.StatusOK, views.KeyConfirmRowFragment(m, rowURL, 8))
	}
	m.Page = h.keysPage(c, m.Title)
	return render(c, http.StatusOK, views.KeyConfirmPage(m))
}

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
	if f.rejected(err) {
		// The expiry field is the edit page's: the choice comes back there,
		// with the message beside it.
		k, lerr := h.loadKey(c)
		if lerr != nil {
			return lerr
		}
		f.Name, f.Description = k.Name, k.Description
		return h.editPage(c, http.StatusUnprocessableEntity, k, f, views.Flash{})
	}
	if k.ExpiryDate == nil {
		return h.cleared(c, k, err)
	}
	return h.changed(c, k, err, "Set the expiry of")
}

// changed answers a change of one key with done and the key's label.
func (h keys) changed(c echo.Context, k apiclient.APIKey, err error, done string) error {
	return h.changedSaying(c, k, err, done+" "+apikeys.Label(k)+".")
}

// changedSaying answers a change of one key: with its updated row and
// what was done in the page's alerts (htmx), or by going back to the view
// the action came from with what was done in a flash.
func (h keys) changedSaying(c echo.Context, k apiclient.APIKey, err error, what string) error {
	if err != nil {
		return err
	}
	flash := views.Flash{Kind: "success", Text: what}
	if isHTMX(c) {
		ret := h.returnTo(c)
		u := currentUser(c)
		return render(c, http.StatusOK, views.KeyRowChanged(h.oneRow(c, ret, k), u.CanChangeKeys, flash))
	}
	h.flash.set(c, flash)
	return c.Redirect(http.StatusSeeOther, h.returnTo(c))
}

// cleared answers a cleared expiry as changed does, in words that say
// what it means.
func (h keys) cleared(c echo.Context, k apiclient.APIKey, err error) error {
	label := apikeys.Label(k)
	if rest, ok := strings.CutPrefix(label, "the "); ok {
		label = "The " + rest
	}
	return h.changedSaying(c, k, err, label+" no longer expires.")
}
