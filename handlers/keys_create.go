package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/views"
)

// newForm shows the create-key form; ?kind= preselects a kind.
func (h keys) newForm(c echo.Context) error {
	u := currentUser(c)
	f := keyForm{Kind: c.QueryParam("kind"), Expiry: "30d", Errors: map[string]string{}}
	if !slices.Contains([]string{"user", "provisioning", "device"}, f.Kind) || (f.Kind == "user" && !u.CanCreateUserKeys) {
		f.Kind = "user"
		if !u.CanCreateUserKeys {
			f.Kind = "provisioning"
		}
	}
	f.Fleet = c.QueryParam("fleet")
	f.Device = c.QueryParam("device")
	return h.createPage(c, http.StatusOK, f, nil, views.Flash{})
}

// createPage renders the create page, or only its card for htmx.
func (h keys) createPage(c echo.Context, status int, f keyForm, change func(*views.KeyCreate), flash views.Flash) error {
	u := currentUser(c)
	m := views.KeyCreate{
		Page:          h.page(c, "Create key"),
		Action:        h.url(routeKeyCreate),
		Form:          f.view(),
		Flash:         flash,
		CanCreateUser: u.CanCreateUserKeys,
		CancelURL:     h.url(routeKeys),
		DevicesURL:    h.url(routeKeyDevices),
	}
	if change != nil {
		change(&m)
	}
	if m.Created == nil && !m.ConfirmPassword {
		fleets, err := h.fleets(c)
		if err != nil {
			return err
		}
		for _, fl := range fleets {
			m.Fleets = append(m.Fleets, fl.Slug)
		}
	}
	if isHTMX(c) {
		return render(c, status, views.KeyCreateFragment(m))
	}
	return render(c, status, views.KeyCreatePage(m))
}

// create makes a key of the chosen kind and shows its secret, once.
func (h keys) create(c echo.Context) error {
	u := currentUser(c)
	ctx := c.Request().Context()
	now := h.now()
	f := readKeyForm(c.FormValue)
	api := h.api(c)

	// Who the key is for: the user, a fleet or a device.
	var target apiclient.APIKey
	switch f.Kind {
	case "user":
		if !u.CanCreateUserKeys {
			f.Errors["kind"] = "A session signed in with an API key cannot create user keys; sign in with your password or a session token."
		}
		target.Kind, target.Owner.Username, target.Owner.ActorID = apiclient.KindUser, u.Identity.Username, u.Identity.ActorID
	case "provisioning":
		target.Kind = apiclient.KindProvisioning
		if f.Fleet == "" {
			f.Errors["fleet"] = "Choose the fleet whose devices this key will register."
			break
		}
		fleets, err := h.fleets(c)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(fleets, func(fl apiclient.Fleet) bool { return fl.Slug == f.Fleet })
		if i < 0 {
			f.Errors["fleet"] = "You cannot reach a fleet " + quote(f.Fleet) + "."
			break
		}
		target.Owner.FleetID, target.Owner.FleetSlug, target.Owner.ActorID = fleets[i].ID, fleets[i].Slug, fleets[i].ActorID
	case "device":
		target.Kind = apiclient.KindDevice
		if !deviceUUID.MatchString(f.Device) {
			f.Errors["device"] = "Enter the device's UUID (7 to 62 hexadecimal characters)."
			break
		}
		devs, err := api.DevicesByUUID(ctx, f.Device)
		if err != nil {
			return err
		}
		if len(devs) != 1 {
			f.Errors["device"] = "You cannot reach a device with UUID " + quote(f.Device) + "."
			break
		}
		target.Owner.DeviceID, target.Owner.DeviceUUID, target.Owner.DeviceName = devs[0].ID, devs[0].UUID, devs[0].DeviceName
		target.Owner.ActorID = devs[0].ActorID
	default:
		f.Errors["kind"] = "Choose the kind of key."
	}
	f.validateText(f.Kind == "user")
	expiry, _ := f.expiry(now, false)
	if len(f.Errors) > 0 {
		return h.createPage(c, http.StatusUnprocessableEntity, f, nil, views.Flash{})
	}

	// balena wants a recent password for user keys; the confirmation form
	// sends it along with everything else the user typed.
	if password := c.FormValue("password"); password != "" && f.Kind == "user" {
		if err := h.refreshWithPassword(c, password); err != nil {
			if apiclient.ErrorCode(err) != apiclient.CodeUnauthorized {
				return err
			}
			f.Errors["password"] = "That password is not right."
			return h.createPage(c, http.StatusUnauthorized, f, func(m *views.KeyCreate) { m.ConfirmPassword = true }, views.Flash{})
		}
		api = h.api(c)
	}

	nk := apiclient.NewKey{Name: f.Name, Description: f.Description, ExpiryDate: expiry}
	secret, err := createKey(ctx, api, target, nk)
	target.Name, target.Description, target.ExpiryDate = f.Name, f.Description, expiry
	if apiclient.ErrorCode(err) == apiclient.CodeFreshAuth {
		return h.createPage(c, http.StatusOK, f, func(m *views.KeyCreate) { m.ConfirmPassword = true }, views.Flash{})
	}
	if err == nil {
		target.ID = newKeyID(ctx, api, target.Owner.ActorID, f.Name)
	}
	h.audit(c, "create", target, []slog.Attr{
		slog.String("new_name", f.Name), slog.String("new_description", f.Description),
		slog.String("new_expiry", optTime(expiry)),
	}, err)
	if err != nil {
		if err = h.writeFailed(c, err); apiclient.ErrorCode(err) == apiclient.CodeUnauthorized {
			return err // the session is over
		}
		p := describe(err)
		return h.createPage(c, p.Status, f, nil, views.Flash{Kind: "error", Text: "The key was not created. " + p.Message})
	}
	return h.createPage(c, http.StatusCreated, f, func(m *views.KeyCreate) {
		m.Created = &views.CreatedKey{Secret: secret, Name: f.Name, Kind: f.Kind, Owner: ownerOf(target), Expires: expiryText(expiry, now)}
	}, views.Flash{})
}

// newKeyID finds the id of the key just made for an actor, for the audit
// trail: the newest of that owner with that name. 0 when balena does not
// show it (open-balena hides other actors' keys from users). The key
// exists either way, so a failure here is not the user's concern. (Two
// keys of one name made for one owner at the same moment could have
// their ids swapped in the trail; nothing else reads them.)
func newKeyID(ctx context.Context, api *apiclient.Session, actorID int64, name string) int64 {
	id, _ := api.NewestKeyID(ctx, actorID, name)
	return id
}

// createKey makes a key of k's kind for k's owner.
func createKey(ctx context.Context, api *apiclient.Session, k apiclient.APIKey, nk apiclient.NewKey) (string, error) {
	switch k.Kind {
	case apiclient.KindUser:
		return api.CreateUserKey(ctx, nk)
	case apiclient.KindProvisioning:
		return api.CreateProvisioningKey(ctx, k.Owner.FleetID, nk)
	case apiclient.KindDevice:
		return api.CreateDeviceKey(ctx, k.Owner.DeviceID, nk)
	}
	return "", echo.NewHTTPError(http.StatusBadRequest, "Keyportal cannot tell what this key belongs to, so it cannot make a key like it.")
}
