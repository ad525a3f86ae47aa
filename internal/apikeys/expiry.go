package apikeys

import (
	"time"
	"unicode/utf8"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/keyportal/keyportal/apiclient"
)

// Expiry choices besides the presets.
const (
	ExpiryKeep   = "keep"   // an edit leaves the expiry alone
	ExpiryNever  = "never"  // the key never expires
	ExpiryCustom = "custom" // the key expires at the end of a chosen day
	ExpirySame   = "same"   // a rotation keeps the old key's expiry
	ExpiryFresh  = "fresh"  // a rotation gives the new key the old one's lifetime, from now
)

// presets are the lifetimes offered when a key is made or changed.
var presets = map[string]func(time.Time) time.Time{
	"1d":  func(t time.Time) time.Time { return t.AddDate(0, 0, 1) },
	"7d":  func(t time.Time) time.Time { return t.AddDate(0, 0, 7) },
	"30d": func(t time.Time) time.Time { return t.AddDate(0, 0, 30) },
	"90d": func(t time.Time) time.Time { return t.AddDate(0, 0, 90) },
	"1y":  func(t time.Time) time.Time { return t.AddDate(1, 0, 0) },
}

// presetAt is the expiry a preset sets at now, counted in UTC days (a
// local clock's daylight saving would make "90 days" an hour more or
// less), to the second; nil when choice is no preset.
func presetAt(choice string, now time.Time) *time.Time {
	p, ok := presets[choice]
	if !ok {
		return nil
	}
	t := p(now.UTC()).Truncate(time.Second)
	return &t
}

// Expiry is an expiry as a person chose it: a preset (1d, 7d, 30d, 90d,
// 1y), never, custom with a Date (YYYY-MM-DD), keep, or same.
type Expiry struct {
	Choice string
	Date   string
}

// resolve turns the choice into a date at now (nil: never). keep is true
// when the choice leaves the expiry as it is (allowed only where
// allowKeep). Problems go into errs under the form's field names.
func (e Expiry) resolve(now time.Time, allowKeep bool, errs map[string]string) (date *time.Time, keep bool) {
	switch e.Choice {
	case ExpiryKeep:
		if allowKeep {
			return nil, true
		}
	case ExpiryNever:
		return nil, false
	case ExpiryCustom:
		d, err := time.Parse(time.DateOnly, e.Date)
		switch {
		case e.Date == "":
			errs["expiry_date"] = "Pick the date the key should expire."
		case err != nil || d.Year() > 9999:
			errs["expiry_date"] = "“" + e.Date + "” is not a date like 2026-12-31."
		default:
			// The key works through the whole chosen day (UTC).
			end := d.Add(24*time.Hour - time.Second)
			if !end.After(now) {
				errs["expiry_date"] = "Pick a date in the future; to stop a key now, use Expire now."
				return nil, false
			}
			return &end, false
		}
		return nil, false
	default:
		if t := presetAt(e.Choice, now); t != nil {
			return t, false
		}
	}
	errs["expiry"] = "Choose when the key expires."
	return nil, false
}

// ResolveExpiry is the date an expiry choice sets at now (nil: never), or
// an invalid-input *Error.
func ResolveExpiry(e Expiry, now time.Time) (*time.Time, error) {
	errs := map[string]string{}
	date, _ := e.resolve(now, false, errs)
	return date, Invalid(errs)
}

// Graces are the waits offered before a rotated key stops working; keep
// leaves the old key as it is.
var Graces = map[string]time.Duration{"now": 0, "1h": time.Hour, "1d": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

// GraceKeep leaves the old key of a rotation working.
const GraceKeep = "keep"

// balena's own limits for a key's name and description (its error texts
// say "Length (Type) … less than or equal to 50 / 150").
const (
	MaxName        = 50
	MaxDescription = 150
)

// checkText applies balena's rules for name and description, so that a
// person hears of them beside the field rather than as balena's sentence.
func checkText(name, description string, nameRequired bool, errs map[string]string) {
	switch n := utf8.RuneCountInString(name); {
	case n == 0 && nameRequired:
		errs["name"] = "A user key needs a name, so you can tell it apart later."
	case n > MaxName:
		errs["name"] = "Names are limited to 50 characters; this one has " + formatCount(n) + "."
	}
	if n := utf8.RuneCountInString(description); n > MaxDescription {
		errs["description"] = "Descriptions are limited to 150 characters; this one has " + formatCount(n) + "."
	}
}

// needsName: a named user key must keep a name, as in balena's own clients.
func needsName(k apiclient.APIKey) bool { return k.Kind == apiclient.KindUser && k.Name != "" }

// english writes numbers as people here read them: 1,234.
var english = message.NewPrinter(language.English)

func formatCount(n int) string { return english.Sprint(n) }
