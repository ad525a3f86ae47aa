package apikeys

import (
	"time"

	"github.com/keyportal/keyportal/apiclient"
)

// Policy is an organization's rule for the keys made or changed through
// the portal (KEYPORTAL_POLICY_*). The zero Policy allows anything balena
// does.
type Policy struct {
	// MaxLifetime bounds every expiry the portal sets: no later than this
	// long from now, and never "never". 0: no bound.
	MaxLifetime time.Duration
	// RequireDescription refuses a key without a description. balena lets
	// every kind of key carry one (user, provisioning and device keys
	// alike), and the portal's forms offer it for every kind, so the rule
	// holds for every kind.
	RequireDescription bool
}

// Set reports whether the policy asks anything at all.
func (p Policy) Set() bool { return p.MaxLifetime > 0 || p.RequireDescription }

// Latest is the latest expiry the policy allows at now; nil when it sets
// no bound.
func (p Policy) Latest(now time.Time) *time.Time {
	if p.MaxLifetime <= 0 {
		return nil
	}
	t := now.Add(p.MaxLifetime).UTC().Truncate(time.Second)
	return &t
}

// LatestDay is the last day (YYYY-MM-DD) a custom expiry may name at now:
// a custom date lasts through its whole day (UTC), so that day must end
// by Latest. "" when the policy sets no bound.
func (p Policy) LatestDay(now time.Time) string {
	if d, ok := p.lastDay(now); ok {
		return d.Format(time.DateOnly)
	}
	return ""
}

// LatestDayWords is LatestDay as a message names it: "2 Mar 2027".
func (p Policy) LatestDayWords(now time.Time) string {
	if d, ok := p.lastDay(now); ok {
		return d.Format("2 Jan 2006")
	}
	return ""
}

func (p Policy) lastDay(now time.Time) (time.Time, bool) {
	latest := p.Latest(now)
	if latest == nil {
		return time.Time{}, false
	}
	d := latest.Truncate(24 * time.Hour)
	if d.Add(24*time.Hour - time.Second).After(*latest) {
		d = d.AddDate(0, 0, -1)
	}
	return d, true
}

// Lifetime words MaxLifetime: "90 days", "36 hours".
func (p Policy) Lifetime() string {
	d := p.MaxLifetime
	switch {
	case d%(24*time.Hour) == 0:
		return plural(int(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return formatCount(n) + " " + unit + "s"
}

// ExpiryRule is the policy on expiries in one sentence, for beside an
// expiry field; "" when there is none.
func (p Policy) ExpiryRule() string {
	if p.MaxLifetime <= 0 {
		return ""
	}
	return "Your organization's policy: keys expire within " + p.Lifetime() + "."
}

// DescriptionRule is the policy on descriptions in one sentence, for
// beside a description field; "" when there is none.
func (p Policy) DescriptionRule() string {
	if !p.RequireDescription {
		return ""
	}
	return "Your organization's policy: every key has a description."
}

// Offers reports whether an expiry choice can be offered at now: not
// "never" under a maximum lifetime, nor a preset that lasts longer.
func (p Policy) Offers(choice string, now time.Time) bool {
	latest := p.Latest(now)
	if latest == nil {
		return true
	}
	if choice == ExpiryNever {
		return false
	}
	if t := presetAt(choice, now); t != nil {
		return !t.After(*latest)
	}
	return true
}

// Breach says how a planned expiry (nil: never) and description (nil:
// not part of the change) break the policy at now: messages by the form's
// field names, "expiry" and "description"; nil when they keep it.
func (p Policy) Breach(now time.Time, expiry *time.Time, description *string) map[string]string {
	errs := map[string]string{}
	if latest := p.Latest(now); latest != nil {
		// The day named is the last one the custom date accepts, so that
		// following the message never meets a second refusal.
		day := p.LatestDayWords(now)
		switch {
		case expiry == nil:
			errs["expiry"] = p.ExpiryRule() + " Choose an expiry on or before " + day + "; “never” is not allowed."
		case expiry.After(*latest):
			errs["expiry"] = p.ExpiryRule() + " Choose an expiry on or before " + day + "."
		}
	}
	if p.RequireDescription && description != nil && *description == "" {
		errs["description"] = p.DescriptionRule() + " Say what the key is for."
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// Breaks reports whether an existing key breaks the policy at now: the
// test that Breaches states as a query.
func (p Policy) Breaks(k apiclient.APIKey, now time.Time) bool {
	if latest := p.Latest(now); latest != nil && (k.ExpiryDate == nil || k.ExpiryDate.After(*latest)) {
		return true
	}
	return p.RequireDescription && k.Description == ""
}

// Breaches is the condition of the keys that break the policy at now, for
// a KeyQuery's Breaking: balena filters, counts and pages them like any
// other view, so a count (CountKeys) equals the list. nil when the policy
// asks nothing.
func (p Policy) Breaches(now time.Time) *apiclient.Limits {
	if !p.Set() {
		return nil
	}
	return &apiclient.Limits{LatestExpiry: p.Latest(now), Description: p.RequireDescription}
}

// check applies the policy to a planned expiry, chosen as e, and
// description (nil: not part of the change), adding its messages to errs
// under the field the choice was made in. A choice that is itself invalid
// (already in errs) is not checked again.
func (p Policy) check(now time.Time, e Expiry, expiry *time.Time, description *string, errs map[string]string) {
	field := "expiry"
	if e.Choice == ExpiryCustom {
		field = "expiry_date"
	}
	if _, bad := errs[field]; bad {
		expiry = p.Latest(now) // nothing more to say of it
	}
	for f, msg := range p.Breach(now, expiry, description) {
		if f == "expiry" {
			f = field
			if e.Choice == ExpiryCustom {
				msg = p.ExpiryRule() + " Pick a date no later than " + p.LatestDay(now) + "."
			}
		}
		if _, ok := errs[f]; !ok {
			errs[f] = msg
		}
	}
}
