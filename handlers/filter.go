package handlers

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/views"
)

// keyFilter is the keys view as the URL states it (apikeys.Filter) and
// what was wrong with it. It is parsed leniently: a bad value is reported
// and ignored, and the rest of the view still works.
type keyFilter struct {
	apikeys.Filter

	raw    url.Values        // as given, to show bad values back
	Errors map[string]string // parameter -> message

	// breaking is the policy's breach condition, set by keys.filter when
	// Breach is; policyOffered says a policy is set at all.
	breaking      *apiclient.Limits
	policyOffered bool
}

const (
	maxQ    = 200
	maxPage = 1_000_000
)

var (
	perPages = []int{10, 25, 50, 100}
)

// parseKeyFilter reads a keys view from a query string.
func parseKeyFilter(v url.Values) keyFilter {
	f := keyFilter{Filter: apikeys.NewFilter(), raw: v, Errors: map[string]string{}}
	bad := func(field, msg string) { f.Errors[field] = msg }

	f.Q = strings.TrimSpace(v.Get("q"))
	if !utf8.ValidString(f.Q) {
		bad("q", "The search text is not valid text (UTF-8); it was ignored.")
		f.Q = ""
	}
	if len(f.Q) > maxQ {
		bad("q", "Search text is limited to 200 characters; it was shortened.")
		f.Q = strings.ToValidUTF8(f.Q[:maxQ], "")
	}
	for _, k := range v["kind"] {
		kind, ok := apikeys.ParseKind(k)
		switch {
		case ok && !slices.Contains(f.Kinds, kind):
			f.Kinds = append(f.Kinds, kind)
		case !ok && k != "":
			bad("kind", "Kind "+apikeys.Quote(k)+" is not one of user, provisioning or device.")
		}
	}
	if len(f.Kinds) == len(apikeys.Kinds) {
		f.Kinds = nil // all kinds: no filter at all
	}
	if s := strings.TrimSpace(v.Get("fleet")); s != "" {
		if apikeys.ValidFleetSlug(s) || apikeys.ValidFleetName(s) {
			f.Fleet = s
		} else {
			bad("fleet", "Fleet "+apikeys.Quote(s)+" is neither a fleet slug like org/fleet-name nor a fleet's name.")
		}
	}
	if s := strings.TrimSpace(v.Get("device")); s != "" {
		if apikeys.ValidDeviceText(s) {
			f.Device = s
		} else {
			bad("device", "Device "+apikeys.Quote(strings.ToValidUTF8(s, ""))+" is neither a device's name nor its UUID.")
		}
	}
	switch st := apiclient.Status(v.Get("status")); st {
	case apiclient.StatusAny, apiclient.StatusActive, apiclient.StatusExpired, apiclient.StatusExpiring, apiclient.StatusNever:
		f.Status = st
	default:
		bad("status", "Status "+apikeys.Quote(string(st))+" is not one of active, expired, expiring or never.")
	}
	if s := v.Get("within"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 3650 {
			bad("within", "Within must be a whole number of days from 1 to 3650.")
		} else {
			f.Within = n
		}
	}
	f.CreatedAfter = parseDay(v, "created_after", false, bad)
	f.CreatedBefore = parseDay(v, "created_before", true, bad)
	f.ExpiresAfter = parseDay(v, "expires_after", false, bad)
	f.ExpiresBefore = parseDay(v, "expires_before", true, bad)
	if f.CreatedAfter != nil && f.CreatedBefore != nil && !f.CreatedAfter.Before(*f.CreatedBefore) {
		bad("created_before", "“Created to” is before “Created from”.")
		f.CreatedBefore = nil
	}
	if f.ExpiresAfter != nil && f.ExpiresBefore != nil && !f.ExpiresAfter.Before(*f.ExpiresBefore) {
		bad("expires_before", "“Expires to” is before “Expires from”.")
		f.ExpiresBefore = nil
	}
	// Before the day itself: seen_before=2025-01-31 keeps devices last
	// seen on the 30th at the latest.
	f.SeenBefore = parseDay(v, "seen_before", false, bad)
	if f.SeenBefore != nil && f.Kinds != nil && !slices.Contains(f.Kinds, apiclient.KindDevice) {
		bad("seen_before", "“Device last seen before” finds device keys only; tick Device among the kinds, or clear the date.")
		f.SeenBefore = nil
	}
	switch s := v.Get("policy"); s {
	case "":
	case "breach":
		f.Breach = true
	default:
		bad("policy", "Policy "+apikeys.Quote(s)+" is not breach (the keys that break the lifetime policy).")
	}
	if s := v.Get("sort"); s != "" {
		desc := strings.HasPrefix(s, "-")
		switch field := apiclient.SortField(strings.TrimPrefix(s, "-")); field {
		case apiclient.SortName, apiclient.SortCreatedAt, apiclient.SortExpiry:
			f.Sort, f.Desc = field, desc
		default:
			bad("sort", "Sort "+apikeys.Quote(s)+" is not one of name, created_at or expiry_date (with - for descending).")
		}
	}
	if s := v.Get("per_page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || !slices.Contains(perPages, n) {
			bad("per_page", "Per page must be 10, 25, 50 or 100.")
		} else {
			f.PerPage = n
		}
	}
	if s := v.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			bad("page", "Page "+apikeys.Quote(s)+" is not a page number; showing the first page.")
		} else {
			f.Page = n
		}
	}
	return f
}

// parseDay reads a YYYY-MM-DD date as UTC. An end-of-range date includes
// the whole day, so "created to 2025-01-31" keeps keys made that day.
func parseDay(v url.Values, name string, end bool, bad func(string, string)) *time.Time {
	s := strings.TrimSpace(v.Get(name))
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Year() < 2000 || t.Year() > 9999 {
		bad(name, apikeys.Quote(s)+" is not a date like 2025-01-31.")
		return nil
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return &t
}

// Query is the filter as an apiclient query for its page, with the
// policy's breach condition, which depends on the policy and the hour.
// It shadows apikeys.Filter's, which cannot know the policy.
func (f keyFilter) Query() apiclient.KeyQuery {
	q := f.Filter.Query()
	q.Breaking = f.breaking
	return q
}

// form is the filter as the form shows it: the raw value where it was bad,
// so the user sees what to fix.
func (f keyFilter) form() views.KeyFilter {
	pick := func(name, good string) string {
		if _, isBad := f.Errors[name]; isBad {
			return f.raw.Get(name)
		}
		return good
	}
	vals := f.Values()
	kinds := map[string]bool{}
	for _, k := range f.Kinds {
		kinds[string(k)] = true
	}
	return views.KeyFilter{
		Q: f.Q, Kinds: kinds,
		Fleet:         pick("fleet", f.Fleet),
		Device:        pick("device", f.Device),
		Status:        pick("status", string(f.Status)),
		Within:        pick("within", strconv.Itoa(f.Within)),
		CreatedAfter:  pick("created_after", vals.Get("created_after")),
		CreatedBefore: pick("created_before", vals.Get("created_before")),
		ExpiresAfter:  pick("expires_after", vals.Get("expires_after")),
		ExpiresBefore: pick("expires_before", vals.Get("expires_before")),
		SeenBefore:    pick("seen_before", vals.Get("seen_before")),
		Policy:        pick("policy", map[bool]string{true: "breach"}[f.Breach]),
		PolicyOffered: f.policyOffered,
		Sort:          f.SortParam(),
		PerPage:       strconv.Itoa(f.PerPage),
		Errors:        f.Errors,
	}
}

// filter reads a keys view from a query string, with the policy's breach
// condition when it asks for it: the one reading of a view that lists,
// counts, exports and selects keys. policy=breach with no policy set is
// reported, and the rest of the view still works.
func (h keys) filter(v url.Values) keyFilter {
	f := parseKeyFilter(v)
	p := h.rules.Policy()
	f.policyOffered = p.Set()
	if f.Breach {
		if f.breaking = p.Breaches(h.now()); f.breaking == nil {
			f.Errors["policy"] = "No lifetime policy is set (KEYPORTAL_POLICY_MAX_LIFETIME, KEYPORTAL_POLICY_REQUIRE_DESCRIPTION), so no key breaks one; showing every key."
			f.Breach = false
		}
	}
	return f
}
