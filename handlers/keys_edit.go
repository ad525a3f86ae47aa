package handlers

import (
	"log/slog"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/views"
)

// edit shows a key's name, description and expiry for changing.
func (h keys) edit(c echo.Context) error {
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	f := keyForm{Name: k.Name, Description: k.Description, Expiry: expiryKeep, Errors: map[string]string{}}
	return h.editPage(c, http.StatusOK, k, f, views.Flash{})
}

// editPage shows the edit form: in the row itself for htmx, else as a page.
func (h keys) editPage(c echo.Context, status int, k apiclient.APIKey, f keyForm, flash views.Flash) error {
	ret := h.returnTo(c)
	row := keyRow(k, currentUser(c).Identity, h.now())
	if isHTMX(c) {
		return render(c, status, views.KeyEditRowFragment(views.KeyEditRow{
			Key: row, Action: h.url(routeKeyUpdate, k.ID), RowURL: h.url(routeKeyRow, k.ID) + "?" + url.Values{"return": {ret}}.Encode(),
			Return: ret, Form: f.view(), Flash: flash, Colspan: 8,
		}))
	}
	return render(c, status, views.KeyEditPage(views.KeyEdit{
		Page:      h.page(c, "Edit key"),
		Action:    h.url(routeKeyUpdate, k.ID),
		Key:       row,
		Form:      f.view(),
		Flash:     flash,
		CancelURL: ret,
	}))
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
	if err := h.mayChange(c); err != nil {
		return err
	}
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	ret := h.returnTo(c)
	return render(c, http.StatusOK, views.KeyActionsPage(views.KeyActions{
		Page:   h.page(c, "Actions for "+keyLabel(k)),
		Key:    keyRow(k, currentUser(c).Identity, h.now()),
		Label:  "Actions for " + keyLabel(k),
		Menu:   h.rowLinks(ret).forKey(k.ID),
		Return: ret,
	}))
}

// renderRow is the htmx answer to a change of one key: its new row.
func (h keys) renderRow(c echo.Context, k apiclient.APIKey) error {
	ret := h.returnTo(c)
	return render(c, http.StatusOK, views.KeyRowFragment(h.rowLinks(ret).row(k, currentUser(c).Identity, h.now()), currentUser(c).CanChangeKeys))
}

// update saves what changed and goes back to the keys page.
func (h keys) update(c echo.Context) error {
	if err := h.mayChange(c); err != nil {
		return err
	}
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	f := readKeyForm(c.FormValue)
	// Named user keys must keep a name, as in balena's own clients.
	f.validateText(k.Kind == apiclient.KindUser && k.Name != "")
	expiry, keep := f.expiry(h.now(), true)
	if len(f.Errors) > 0 {
		return h.editPage(c, http.StatusUnprocessableEntity, k, f, views.Flash{})
	}

	var u apiclient.KeyUpdate
	var change []slog.Attr
	if f.Name != k.Name {
		u.Name = &f.Name
		change = append(change, slog.String("old_name", k.Name), slog.String("new_name", f.Name))
	}
	if f.Description != k.Description {
		u.Description = &f.Description
		change = append(change, slog.String("old_description", k.Description), slog.String("new_description", f.Description))
	}
	if !keep {
		u.ExpiryDate, u.ClearExpiry = expiry, expiry == nil
		change = append(change, slog.String("old_expiry", optTime(k.ExpiryDate)), slog.String("new_expiry", optTime(expiry)))
	}
	if len(change) == 0 {
		if isHTMX(c) {
			return h.renderRow(c, k)
		}
		h.flash.set(c, views.Flash{Kind: "info", Text: "Nothing changed in " + keyLabel(k) + "."})
		return c.Redirect(http.StatusSeeOther, h.returnTo(c))
	}
	err = h.api(c).UpdateKey(c.Request().Context(), k.ID, u)
	h.audit(c, "update", k, change, err)
	if err != nil {
		if err = h.writeFailed(c, err); apiclient.ErrorCode(err) == apiclient.CodeUnauthorized {
			return err // the session is over
		}
		p := describe(err)
		return h.editPage(c, p.Status, k, f, views.Flash{Kind: "error", Text: "Nothing was saved. " + p.Message})
	}
	k.Name, k.Description = f.Name, f.Description
	if !keep {
		k.ExpiryDate = expiry
	}
	if isHTMX(c) {
		return h.renderRow(c, k)
	}
	h.flash.set(c, views.Flash{Kind: "success", Text: "Saved " + keyLabel(k) + "."})
	return c.Redirect(http.StatusSeeOther, h.returnTo(c))
}
