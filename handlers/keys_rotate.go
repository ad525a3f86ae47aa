package handlers

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/views"
)

// expirySame keeps the old key's expiry date for its replacement.
const expirySame = "same"

// graces are the waits offered before a rotated key stops working.
var graces = map[string]time.Duration{"now": 0, "1h": time.Hour, "1d": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

// rotateForm shows what a rotation will do and asks how long the old key
// may keep working.
func (h keys) rotateForm(c echo.Context) error {
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	f := keyForm{Expiry: "90d", Errors: map[string]string{}}
	if k.ExpiryDate != nil && k.ExpiryDate.After(h.now()) {
		f.Expiry = expirySame
	}
	return h.rotatePage(c, http.StatusOK, k, "1d", f, nil)
}

func (h keys) rotatePage(c echo.Context, status int, k apiclient.APIKey, grace string, f keyForm, change func(*views.KeyRotate)) error {
	now := h.now()
	opts := views.ExpiryOptions
	if k.ExpiryDate != nil && k.ExpiryDate.After(now) {
		opts = append([]views.Option{{Value: expirySame, Label: "Same as the old key (" + k.ExpiryDate.UTC().Format("2 Jan 2006") + ")"}}, opts...)
	}
	m := views.KeyRotate{
		Page:          h.page(c, "Rotate key"),
		Action:        h.url(routeKeyRotateDo, k.ID),
		Key:           keyRow(k, currentUser(c).Identity, now),
		Label:         keyLabel(k),
		Grace:         grace,
		Form:          f.view(),
		ExpiryOptions: opts,
		CancelURL:     h.url(routeKeys),
	}
	if change != nil {
		change(&m)
	}
	return render(c, status, views.KeyRotatePage(m))
}

// rotate creates the replacement, then sets the old key to expire after the
// grace period. The new secret is shown even if retiring the old key fails,
// since it already exists and would otherwise be lost.
func (h keys) rotate(c echo.Context) error {
	if err := h.mayChange(c); err != nil {
		return err
	}
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	now := h.now()
	f := readKeyForm(c.FormValue)
	grace := c.FormValue("grace")
	wait, known := graces[grace]
	if !known && grace != "keep" {
		f.Errors["grace"] = "Choose when the old key stops working."
	}
	var expiry *time.Time
	if f.Expiry == expirySame && k.ExpiryDate != nil {
		expiry = k.ExpiryDate
	} else {
		expiry, _ = f.expiry(now, false)
	}
	if len(f.Errors) > 0 {
		return h.rotatePage(c, http.StatusUnprocessableEntity, k, grace, f, nil)
	}
	if password := c.FormValue("password"); password != "" && k.Kind == apiclient.KindUser {
		if err := h.refreshWithPassword(c, password); err != nil {
			if apiclient.ErrorCode(err) != apiclient.CodeUnauthorized {
				return err
			}
			f.Errors["password"] = "That password is not right."
			return h.rotatePage(c, http.StatusUnauthorized, k, grace, f, func(m *views.KeyRotate) { m.ConfirmPassword = true })
		}
	}

	api := h.api(c)
	nk := apiclient.NewKey{Name: k.Name, Description: k.Description, ExpiryDate: expiry}
	secret, err := createKey(ctx, api, k, nk)
	if apiclient.ErrorCode(err) == apiclient.CodeFreshAuth {
		return h.rotatePage(c, http.StatusOK, k, grace, f, func(m *views.KeyRotate) { m.ConfirmPassword = true })
	}
	change := []slog.Attr{slog.String("new_expiry", optTime(expiry))}
	if err == nil {
		if id := newKeyID(ctx, api, k.Owner.ActorID, k.Name); id != 0 {
			change = append(change, slog.Int64("new_key", id))
		}
	}
	h.audit(c, "rotate_create", k, change, err)
	if err != nil {
		return h.writeFailed(c, err)
	}

	flash := views.Flash{Kind: "info", Text: "The old key keeps working until you revoke it or it expires."}
	if grace != "keep" {
		until := now.Add(wait).UTC()
		err = api.UpdateKey(ctx, k.ID, apiclient.KeyUpdate{ExpiryDate: &until})
		h.audit(c, "rotate_expire_old", k, []slog.Attr{slog.String("old_expiry", optTime(k.ExpiryDate)), slog.String("new_expiry", optTime(&until))}, err)
		switch {
		case err != nil:
			flash = views.Flash{Kind: "error", Text: "The new key exists, but the old one could not be set to expire: " + describe(err).Message + " Expire it from the keys page."}
		case wait == 0:
			flash = views.Flash{Kind: "success", Text: "The old key has stopped working."}
		default:
			flash = views.Flash{Kind: "success", Text: "The old key stops working " + views.RelTime(until, now) + " (" + views.ExactTime(until) + ")."}
		}
	}
	return h.rotatePage(c, http.StatusCreated, k, grace, f, func(m *views.KeyRotate) {
		m.Flash = flash
		m.Created = &views.CreatedKey{Secret: secret, Name: k.Name, Kind: string(k.Kind), Owner: ownerOf(k), Expires: expiryText(expiry, now)}
	})
}

// refreshWithPassword renews the session token's sign-in time, which balena
// requires before it creates a user key.
func (h keys) refreshWithPassword(c echo.Context, password string) error {
	u := currentUser(c)
	token, err := h.api(c).RefreshToken(c.Request().Context(), password)
	if err != nil {
		return err
	}
	u.SetToken(token, h.now())
	return h.sessions.Save(c.Response(), c.Request(), u)
}
