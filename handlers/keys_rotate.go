package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/views"
)

// rotateForm shows what a rotation will do and asks how long the old key
// may keep working.
func (h keys) rotateForm(c echo.Context) error {
	k, err := h.loadKey(c)
	if err != nil {
		return err
	}
	f := keyForm{Expiry: apikeys.ExpiryFresh, Errors: map[string]string{}}
	return h.rotatePage(c, http.StatusOK, k, "1d", f, nil)
}

func (h keys) rotatePage(c echo.Context, status int, k apiclient.APIKey, grace string, f keyForm, change func(*views.KeyRotate)) error {
	opts := h.offered(views.ExpiryOptions)
	policy, now := h.rules.Policy(), h.now()
	if h.rules.SameExpiryOffered(k) && policy.Breach(now, k.ExpiryDate, nil) == nil {
		opts = append([]views.Option{{Value: apikeys.ExpirySame, Label: "Same date as the old key (" + k.ExpiryDate.UTC().Format("2 Jan 2006") + ")"}}, opts...)
	}
	fresh := h.rules.FreshExpiry(k)
	label := freshLabel(k, fresh)
	if latest := policy.Latest(now); latest != nil && fresh.Equal(*latest) {
		label = "The longest your organization's policy allows: " + policy.Lifetime() + ", until " + fresh.UTC().Format("2 Jan 2006")
	}
	opts = append([]views.Option{{Value: apikeys.ExpiryFresh, Label: label}}, opts...)
	m := views.KeyRotate{
		Page:           h.keysPage(c, "Rotate key"),
		Action:         h.url(routeKeyRotateDo, k.ID),
		Key:            keyRow(k, currentUser(c).Identity, h.now()),
		Label:          apikeys.Label(k),
		Grace:          grace,
		Form:           h.formView(f),
		ExpiryOptions:  opts,
		AskDescription: k.Description == "" && policy.RequireDescription,
		CancelURL:      h.returnTo(c),
	}
	m.OnKeyPage = h.isKeyPage(m.CancelURL, k.ID)
	if change != nil {
		change(&m)
	}
	return render(c, status, views.KeyRotatePage(m))
}

func confirmRotatePassword(m *views.KeyRotate) { m.ConfirmPassword = true }

// rotate creates the replacement, then sets the old key to expire after the
// grace period. The new secret is shown even if retiring the old key fails,
// since it already exists and would otherwise be lost.
func (h keys) rotate(c echo.Context) error {
	ctx := c.Request().Context()
	f := readKeyForm(c.FormValue)
	grace := c.FormValue("grace")
	plan, err := h.rules.PlanRotate(ctx, h.caller(c), keyID(c), apikeys.RotateRequest{Expiry: f.expiry(), Grace: grace, Description: f.Description})
	if f.rejected(err) {
		return h.rotatePage(c, http.StatusUnprocessableEntity, plan.Old, grace, f, nil)
	}
	if err != nil {
		return err
	}
	k := plan.Old
	if password := c.FormValue("password"); password != "" && k.Kind == apiclient.KindUser {
		if err := h.refreshWithPassword(c, password); err != nil {
			status, ok := passwordRefused(err, f.Errors)
			if !ok {
				return err
			}
			return h.rotatePage(c, status, k, grace, f, confirmRotatePassword)
		}
	}

	now := h.now()
	r, err := h.rules.Rotate(ctx, h.caller(c), plan)
	if apikeys.Code(err) == apiclient.CodeFreshAuth {
		return h.rotatePage(c, http.StatusOK, k, grace, f, confirmRotatePassword)
	}
	if err != nil {
		return err
	}
	flash := views.Flash{Kind: "info", Text: "The old key keeps working until you revoke it or it expires."}
	switch {
	case r.RetireErr != nil:
		_, flash = h.failedFlash(c, r.RetireErr)
	case r.OldUntil == nil:
	case *plan.Grace == 0:
		flash = views.Flash{Kind: "success", Text: "The old key has stopped working."}
	default:
		flash = views.Flash{Kind: "success", Text: "The old key stops working", At: views.TimeAt(*r.OldUntil, now)}
	}
	return h.rotatePage(c, http.StatusCreated, k, grace, f, func(m *views.KeyRotate) {
		m.Flash = flash
		m.Created = createdKey(r.Created, now)
	})
}

// passwordRefused puts a refused password confirmation (wrong, or too
// many tries) beside the password field, so that the rest of the form is
// kept; ok is false for any other failure.
func passwordRefused(err error, errs map[string]string) (status int, ok bool) {
	var he *echo.HTTPError
	switch {
	case apiclient.ErrorCode(err) == apiclient.CodeUnauthorized:
		errs["password"] = "That password is not right."
		return http.StatusUnauthorized, true
	case errors.As(err, &he) && he.Code == http.StatusTooManyRequests:
		errs["password"] = describe(err).Message
		return he.Code, true
	}
	return 0, false
}

// refreshWithPassword renews the session token's sign-in time, which balena
// requires before it creates a user key. The password is a sign-in
// attempt like any other: it counts against the same limits, per address
// and per account, so that a stolen session cookie is no way to guess it.
func (h keys) refreshWithPassword(c echo.Context, password string) error {
	u := currentUser(c)
	h.throttle.learn(u.Identity.Username, u.Identity.Email)
	account := u.Identity.Email
	if account == "" {
		account = u.Identity.Username
	}
	try, wait, which := h.throttle.allow(h.now(), c.RealIP(), account)
	if wait > 0 {
		return echo.NewHTTPError(tooMany(c, wait), throttled(wait, which).Text)
	}
	token, err := h.api(c).RefreshToken(c.Request().Context(), password)
	h.throttle.settle(h.now(), try, err)
	if err != nil {
		return err
	}
	u.SetToken(token, h.now())
	return h.sessions.Save(c.Response(), c.Request(), u)
}

// freshLabel names the default expiry of a rotation's new key: as long as
// the old key was given when it was made, or 90 days, with the date.
func freshLabel(old apiclient.APIKey, at *time.Time) string {
	until := at.UTC().Format("2 Jan 2006")
	if life, ok := apikeys.Lifetime(old); ok {
		return "As long as the old key was given: " + apikeys.Span(life) + ", until " + until
	}
	why := "how long the old key was given is not known"
	if old.ExpiryDate == nil {
		why = "the old key never expires"
	}
	return "90 days, until " + until + " (" + why + ")"
}
