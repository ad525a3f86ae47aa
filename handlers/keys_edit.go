package handlers

import (
	"log/slog"
	"net/http"

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

func (h keys) editPage(c echo.Context, status int, k apiclient.APIKey, f keyForm, flash views.Flash) error {
	return render(c, status, views.KeyEditPage(views.KeyEdit{
		Page:      h.page(c, "Edit key"),
		Action:    h.url(routeKeyUpdate, k.ID),
		Key:       keyRow(k, currentUser(c).Identity, h.now()),
		Form:      f.view(),
		Flash:     flash,
		CancelURL: h.url(routeKeys),
	}))
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
		h.flash.set(c, views.Flash{Kind: "info", Text: "Nothing changed in " + keyLabel(k) + "."})
		return c.Redirect(http.StatusSeeOther, h.url(routeKeys))
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
	k.Name = f.Name
	h.flash.set(c, views.Flash{Kind: "success", Text: "Saved " + keyLabel(k) + "."})
	return c.Redirect(http.StatusSeeOther, h.url(routeKeys))
}
