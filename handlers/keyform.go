package handlers

import (
	"slices"
	"strings"

	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/views"
)

// keyForm is what a person typed into the create, edit or rotate form,
// kept as typed so that a rejected form comes back with their input.
type keyForm struct {
	Kind        string
	Name        string
	Description string
	Fleet       string // slug, for provisioning keys
	Device      string // uuid, for device keys
	Expiry      string // a preset, "custom", "never", (edit) "keep" or (rotate) "same"
	ExpiryDate  string // YYYY-MM-DD, with "custom"
	Errors      map[string]string
}

func readKeyForm(get func(string) string) keyForm {
	return keyForm{
		Kind:        get("kind"),
		Name:        strings.TrimSpace(get("name")),
		Description: strings.TrimSpace(get("description")),
		Fleet:       strings.TrimSpace(get("fleet")),
		Device:      strings.ToLower(strings.TrimSpace(get("device"))),
		Expiry:      get("expiry"),
		ExpiryDate:  strings.TrimSpace(get("expiry_date")),
		Errors:      map[string]string{},
	}
}

// expiry is the expiry choice as the rules read it.
func (f keyForm) expiry() apikeys.Expiry { return apikeys.Expiry{Choice: f.Expiry, Date: f.ExpiryDate} }

// newKey is the form as a request for a new key.
func (f keyForm) newKey() apikeys.NewKeyRequest {
	return apikeys.NewKeyRequest{Kind: f.Kind, Fleet: f.Fleet, Device: f.Device, Name: f.Name, Description: f.Description, Expiry: f.expiry()}
}

// edit is the form as a change of a key.
func (f keyForm) edit() apikeys.Edit {
	return apikeys.Edit{Name: f.Name, Description: f.Description, Expiry: f.expiry()}
}

// rejected marks the fields err found wrong; it reports whether there
// were any (err is then an invalid input, shown beside the fields).
func (f *keyForm) rejected(err error) bool {
	fields := apikeys.FieldErrors(err)
	for k, v := range fields {
		f.Errors[k] = v
	}
	return len(fields) > 0
}

// view is the form as the template shows it.
func (f keyForm) view() views.KeyForm {
	return views.KeyForm{Kind: f.Kind, Name: f.Name, Description: f.Description, Fleet: f.Fleet,
		Device: f.Device, Expiry: f.Expiry, ExpiryDate: f.ExpiryDate, Errors: f.Errors}
}

// formView is the form as the template shows it, with the policy beside
// the fields it governs.
func (h keys) formView(f keyForm) views.KeyForm {
	v := f.view()
	p, now := h.rules.Policy(), h.now()
	v.ExpiryRule, v.LatestDay, v.DescriptionRule = p.ExpiryRule(), p.LatestDay(now), p.DescriptionRule()
	return v
}

// offered keeps the expiry choices the policy allows: no "never" under a
// maximum lifetime, and no preset longer than it.
func (h keys) offered(opts []views.Option) []views.Option {
	p, now := h.rules.Policy(), h.now()
	return slices.DeleteFunc(slices.Clone(opts), func(o views.Option) bool { return !p.Offers(o.Value, now) })
}
