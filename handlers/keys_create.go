package handlers

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/views"
)

// newForm shows the create-key form; ?kind= preselects a kind.
func (h keys) newForm(c echo.Context) error {
	u := currentUser(c)
	f := keyForm{Kind: c.QueryParam("kind"), Expiry: "30d", Errors: map[string]string{}}
	if kind, ok := apikeys.ParseKind(f.Kind); !ok || (kind == apiclient.KindUser && !u.CanCreateUserKeys) {
		f.Kind = string(apiclient.KindUser)
		if !u.CanCreateUserKeys {
			f.Kind = string(apiclient.KindProvisioning)
		}
	}
	if opts := h.offered(views.ExpiryOptions); !slices.ContainsFunc(opts, func(o views.Option) bool { return o.Value == f.Expiry }) {
		f.Expiry = opts[0].Value // the shortest preset: a policy shorter than the default
	}
	f.Fleet = c.QueryParam("fleet")
	f.Device = c.QueryParam("device")
	return h.createPage(c, http.StatusOK, f, nil, views.Flash{})
}

// createPage renders the create page, or only its card for htmx.
func (h keys) createPage(c echo.Context, status int, f keyForm, change func(*views.KeyCreate), flash views.Flash) error {
	u := currentUser(c)
	m := views.KeyCreate{
		Page:          h.keysPage(c, "Create key"),
		Action:        h.url(routeKeyCreate),
		Form:          h.formView(f),
		ExpiryOptions: h.offered(views.ExpiryOptions),
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

// confirmPassword asks for the password before a key balena makes only
// for a recent sign-in.
func confirmPassword(m *views.KeyCreate) { m.ConfirmPassword = true }

// create makes a key of the chosen kind and shows its secret, once.
func (h keys) create(c echo.Context) error {
	ctx := c.Request().Context()
	f := readKeyForm(c.FormValue)
	plan, err := h.rules.PlanCreate(ctx, h.caller(c), f.newKey())
	if f.rejected(err) {
		return h.createPage(c, http.StatusUnprocessableEntity, f, nil, views.Flash{})
	}
	if err != nil {
		return err
	}

	// balena wants a recent password for user keys; the confirmation form
	// sends it along with everything else the user typed.
	if password := c.FormValue("password"); password != "" && plan.Key.Kind == apiclient.KindUser {
		if err := h.refreshWithPassword(c, password); err != nil {
			status, ok := passwordRefused(err, f.Errors)
			if !ok {
				return err
			}
			return h.createPage(c, status, f, confirmPassword, views.Flash{})
		}
	}

	made, err := h.rules.Create(ctx, h.caller(c), plan)
	switch {
	case apikeys.Code(err) == apiclient.CodeFreshAuth:
		return h.createPage(c, http.StatusOK, f, confirmPassword, views.Flash{})
	case sessionOver(err):
		return err
	case err != nil:
		status, flash := h.failedFlash(c, err)
		return h.createPage(c, status, f, nil, flash)
	}
	return h.createPage(c, http.StatusCreated, f, func(m *views.KeyCreate) { m.Created = createdKey(made, h.now()) }, views.Flash{})
}
