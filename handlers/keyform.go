package handlers

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/views"
)

// balena's own limits for a key's name and description (its error texts
// say "Length (Type) … less than or equal to 50 / 150").
const (
	maxName        = 50
	maxDescription = 150
)

// Expiry choices offered when creating or editing a key.
const (
	expiryKeep   = "keep"
	expiryNever  = "never"
	expiryCustom = "custom"
)

var expiryPresets = map[string]func(time.Time) time.Time{
	"1d":  func(t time.Time) time.Time { return t.AddDate(0, 0, 1) },
	"7d":  func(t time.Time) time.Time { return t.AddDate(0, 0, 7) },
	"30d": func(t time.Time) time.Time { return t.AddDate(0, 0, 30) },
	"90d": func(t time.Time) time.Time { return t.AddDate(0, 0, 90) },
	"1y":  func(t time.Time) time.Time { return t.AddDate(1, 0, 0) },
}

// keyForm is what a person typed into the create or edit form, kept as
// typed so that a rejected form comes back with their input.
type keyForm struct {
	Kind        string
	Name        string
	Description string
	Fleet       string // slug, for provisioning keys
	Device      string // uuid, for device keys
	Expiry      string // a preset, "custom", "never" or (edit) "keep"
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

// validateText applies balena's rules for name and description, so the
// user hears about them beside the field rather than as balena's sentence.
func (f *keyForm) validateText(nameRequired bool) {
	switch n := utf8.RuneCountInString(f.Name); {
	case n == 0 && nameRequired:
		f.Errors["name"] = "A user key needs a name, so you can tell it apart later."
	case n > maxName:
		f.Errors["name"] = "Names are limited to 50 characters; this one has " + views.FormatCount(n) + "."
	}
	if n := utf8.RuneCountInString(f.Description); n > maxDescription {
		f.Errors["description"] = "Descriptions are limited to 150 characters; this one has " + views.FormatCount(n) + "."
	}
}

// expiry reads the expiry choice. keep is true when the edit form leaves
// the expiry alone; date nil otherwise means never.
func (f *keyForm) expiry(now time.Time, allowKeep bool) (date *time.Time, keep bool) {
	switch f.Expiry {
	case expiryKeep:
		if allowKeep {
			return nil, true
		}
	case expiryNever:
		return nil, false
	case expiryCustom:
		d, err := time.Parse(time.DateOnly, f.ExpiryDate)
		switch {
		case f.ExpiryDate == "":
			f.Errors["expiry_date"] = "Pick the date the key should expire."
		case err != nil || d.Year() > 9999:
			f.Errors["expiry_date"] = "“" + f.ExpiryDate + "” is not a date like 2026-12-31."
		default:
			// The key works through the whole chosen day (UTC).
			end := d.Add(24*time.Hour - time.Second)
			if !end.After(now) {
				f.Errors["expiry_date"] = "Pick a date in the future; to stop a key now, use Expire now."
				return nil, false
			}
			return &end, false
		}
		return nil, false
	default:
		if p, ok := expiryPresets[f.Expiry]; ok {
			t := p(now).UTC().Truncate(time.Second)
			return &t, false
		}
	}
	f.Errors["expiry"] = "Choose when the key expires."
	return nil, false
}

// view is the form as the template shows it.
func (f keyForm) view() views.KeyForm {
	return views.KeyForm{Kind: f.Kind, Name: f.Name, Description: f.Description, Fleet: f.Fleet,
		Device: f.Device, Expiry: f.Expiry, ExpiryDate: f.ExpiryDate, Errors: f.Errors}
}

// ownerOf says whom a key belongs to, for confirmations and flashes.
func ownerOf(k apiclient.APIKey) string {
	switch k.Kind {
	case apiclient.KindProvisioning:
		return k.Owner.FleetSlug
	case apiclient.KindDevice:
		if k.Owner.DeviceName != "" {
			return k.Owner.DeviceName
		}
		return shortUUID(k.Owner.DeviceUUID)
	}
	return k.Owner.Username
}

// keyLabel names a key in a sentence.
func keyLabel(k apiclient.APIKey) string {
	if k.Name != "" {
		return "“" + k.Name + "”"
	}
	return "the unnamed " + string(k.Kind) + " key of " + ownerOf(k)
}
