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

// edit shows a key's name, description and expiry for changing.
func (h keys) edit(c echo.Context) error {
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	f := keyForm{Name: k.Name, Description: k.Description, Expiry: apikeys.ExpiryKeep, Errors: map[string]string{}}
	return h.editPage(c, http.StatusOK, k, f, views.Flash{})
}

// editPage shows the edit form: in the row itself for htmx, else as a page.
func (h keys) editPage(c echo.Context, status int, k apiclient.APIKey, f keyForm, flash views.Flash) error {
	ret := h.returnTo(c)
	row := keyRow(k, currentUser(c).Identity, h.now())
	if isHTMX(c) {
		if msg := strings.TrimSpace(f.Errors["expiry"] + " " + f.Errors["expiry_date"]); msg != "" && flash.Text == "" {
			flash = views.Flash{Kind: "error", Text: msg} // the row's editor has no expiry field: said above it
		}
		if breach, _ := h.expiryBreach(k, ret); breach != "" && flash.Text == "" {
			// Its expiry is kept here: said, with the way to the form that mends it.
			flash = views.Flash{Kind: "warning", Text: breach, LinkText: "Change its expiry",
				Link: h.url(routeKeyEdit, k.ID) + "?" + url.Values{"return": {ret}}.Encode()}
		}
		return render(c, status, views.KeyEditRowFragment(views.KeyEditRow{
			Key: row, Action: h.url(routeKeyUpdate, k.ID), RowURL: h.url(routeKeyRow, k.ID) + "?" + url.Values{"return": {ret}}.Encode(),
			Return: ret, Form: h.formView(f), Flash: flash, Colspan: 9,
		}))
	}
	m := views.KeyEdit{
		Page:          h.keysPage(c, "Edit key"),
		Action:        h.url(routeKeyUpdate, k.ID),
		ExpiryOptions: h.offered(views.ExpiryOptions),
		Key:           row,
		Form:          h.formView(f),
		Flash:         flash,
		CancelURL:     ret,
		OnKeyPage:     h.isKeyPage(ret, k.ID),
	}
	m.Breach, m.Fix = h.expiryBreach(k, ret)
	return render(c, status, views.KeyEditPage(m))
}

// expiryBreach says how k's expiry breaks the lifetime policy, and the
// one-click fix: its expiry set to the latest day the policy allows.
// Nothing when it keeps the policy.
func (h keys) expiryBreach(k apiclient.APIKey, ret string) (string, *views.ExpiryFix) {
	p, now := h.rules.Policy(), h.now()
	if p.Breach(now, k.ExpiryDate, nil) == nil {
		return "", nil
	}
	how := "it never expires"
	if k.ExpiryDate != nil {
		how = "it expires on " + k.ExpiryDate.UTC().Format("2 Jan 2006") + ", later than the policy allows"
	}
	latest, day := p.LatestDay(now), p.LatestDayWords(now)
	return "This key breaks your organization's policy (keys expire within " + p.Lifetime() + "): " + how +
			". A new name or description can be saved with its expiry kept; to mend it, choose an expiry on or before " + day + ".",
		&views.ExpiryFix{Action: h.url(routeKeyExpiry, k.ID), Date: latest, Day: day, Return: ret}
}

// showRow answers with a key's row as the table shows it: what Cancel in
// the in-place editor swaps back in.
func (h keys) showRow(c echo.Context) error {
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, h.returnTo(c))
	}
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	return h.renderRow(c, k)
}

// actions is a key's menu as a page, for browsers without JavaScript (with
// it, the row menu fills itself from the page's template).
func (h keys) actions(c echo.Context) error {
	if err := apikeys.MayChange(h.caller(c)); err != nil {
		return err
	}
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	ret := h.returnTo(c)
	label := "Actions for " + apikeys.Label(k)
	return render(c, http.StatusOK, views.KeyActionsPage(views.KeyActions{
		Page:   h.keysPage(c, label),
		Key:    keyRow(k, currentUser(c).Identity, h.now()),
		Label:  label,
		Menu:   h.rowLinks(ret).forKey(k.ID),
		Return: ret,
	}))
}

// renderRow is the htmx answer to a change of one key: its new row.
func (h keys) renderRow(c echo.Context, k apiclient.APIKey) error {
	ret := h.returnTo(c)
	return render(c, http.StatusOK, views.KeyRowFragment(h.oneRow(c, ret, k), currentUser(c).CanChangeKeys))
}

// update saves what changed and goes back to the keys page.
func (h keys) update(c echo.Context) error {
	f := readKeyForm(c.FormValue)
	up, err := h.rules.Update(c.Request().Context(), h.caller(c), keyID(c), f.edit())
	switch {
	case f.rejected(err):
		return h.editPage(c, http.StatusUnprocessableEntity, up.Key, f, views.Flash{})
	case apikeys.IsWriteError(err) && !sessionOver(err):
		status, flash := h.failedFlash(c, err)
		return h.editPage(c, status, up.Key, f, flash)
	case err != nil:
		return err
	}
	if isHTMX(c) {
		return h.renderRow(c, up.Key)
	}
	msg := "Saved " + apikeys.Label(up.Key) + "."
	if !up.Changed {
		msg = "Nothing changed in " + apikeys.Label(up.Key) + "."
	}
	h.flash.set(c, views.Flash{Kind: map[bool]string{true: "success", false: "info"}[up.Changed], Text: msg})
	return c.Redirect(http.StatusSeeOther, h.returnTo(c))
}
