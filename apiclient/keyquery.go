package apiclient

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// DefaultWithinDays is the window of StatusExpiring when WithinDays is 0.
const DefaultWithinDays = 7

// maxTextLen bounds KeyQuery.Text: balena's URLs are not unlimited and no
// name or description is longer.
const maxTextLen = 1000

// validate rejects what cannot be compiled, so that no bad query reaches
// balena (where it would be a 400 or an empty 500).
func (q KeyQuery) validate(op string) error {
	for _, k := range q.Kinds {
		if k != KindUser && k != KindProvisioning && k != KindDevice {
			return invalidError(op, "unknown key kind "+strconv.Quote(string(k)))
		}
	}
	switch q.Status {
	case StatusAny, StatusActive, StatusExpired, StatusNever:
	case StatusExpiring:
		if q.WithinDays < 0 {
			return invalidError(op, "WithinDays must not be negative")
		}
	default:
		return invalidError(op, "unknown status "+strconv.Quote(string(q.Status)))
	}
	switch q.Sort {
	case "", SortName, SortCreatedAt, SortExpiry:
	default:
		return invalidError(op, "cannot sort by "+strconv.Quote(string(q.Sort)))
	}
	if q.Top < 0 || q.Skip < 0 {
		return invalidError(op, "Top and Skip must not be negative")
	}
	if !utf8.ValidString(q.Text) || len(q.Text) > maxTextLen {
		return invalidError(op, "search text must be valid UTF-8 of at most 1000 bytes")
	}
	return nil
}

// orderBy always names a direction (balena's default is desc, which
// surprises) and ends with id so that pages never overlap or skip rows
// with equal values.
func (q KeyQuery) orderBy() []string {
	field, dir := string(q.Sort), "asc"
	switch {
	case field == "":
		field, dir = string(SortCreatedAt), "desc"
	case q.Desc:
		dir = "desc"
	}
	return []string{field + " " + dir, "id " + dir}
}

// page is the request for q's page of keys matching filter.
func (q KeyQuery) page(filter string) odata {
	return odata{Filter: filter, OrderBy: q.orderBy(), Top: q.Top, Skip: q.Skip}
}

// kinds returns the wanted kinds, or nil when every kind is.
func (q KeyQuery) kinds() []KeyKind {
	var ks []KeyKind
	for _, k := range []KeyKind{KindUser, KindProvisioning, KindDevice} {
		if slices.Contains(q.Kinds, k) {
			ks = append(ks, k)
		}
	}
	if len(ks) == 3 {
		return nil
	}
	return ks
}

// plainFilter holds the conditions that do not depend on owners.
func (q KeyQuery) plainFilter() string {
	var text string
	if q.Text != "" {
		lit := lowerLiteral(q.Text)
		alts := []string{
			"contains(tolower(name)," + lit + ")",
			"contains(tolower(description)," + lit + ")",
		}
		// A number is also a key's id, as the balena CLI and the export
		// name keys.
		if id, err := strconv.ParseInt(q.Text, 10, 64); err == nil && id > 0 && isDigits(q.Text) {
			alts = append([]string{"id eq " + num(id)}, alts...)
		}
		text = or(alts...)
	}
	var status string
	switch q.Status {
	case StatusActive:
		status = or("expiry_date eq null", "expiry_date gt now()")
	case StatusExpired:
		status = and("expiry_date ne null", "expiry_date le now()")
	case StatusExpiring:
		n := q.WithinDays
		if n == 0 {
			n = DefaultWithinDays
		}
		status = and("expiry_date gt now()", "expiry_date le now() add "+days(n))
	case StatusNever:
		status = "expiry_date eq null"
	}
	var conds = []string{text, status}
	if q.CreatedAfter != nil {
		conds = append(conds, "created_at ge "+datetime(*q.CreatedAfter))
	}
	if q.CreatedBefore != nil {
		conds = append(conds, "created_at lt "+datetime(*q.CreatedBefore))
	}
	if q.ExpiresAfter != nil {
		conds = append(conds, "expiry_date ge "+datetime(*q.ExpiresAfter))
	}
	if q.ExpiresBefore != nil {
		conds = append(conds, "expiry_date lt "+datetime(*q.ExpiresBefore))
	}
	if b := q.Breaking; b != nil {
		var alts []string
		if b.LatestExpiry != nil {
			alts = append(alts, "expiry_date eq null", "expiry_date gt "+datetime(*b.LatestExpiry))
		}
		if b.Description {
			alts = append(alts, "description eq null", "description eq ''")
		}
		conds = append(conds, or(alts...))
	}
	return and(conds...)
}

// Owner conditions where the caller may read actor (balenaCloud): the
// lambdas of balena's docs, which need no lookups first.
const (
	isUserKey         = "a/is_of__user/any(u:u/id gt 0)"
	isProvisioningKey = "a/is_of__application/any(f:f/id gt 0)"
	isDeviceKey       = "a/is_of__device/any(d:d/id gt 0)"
)

// lambdaFilter is the whole $filter where actor is readable.
func (q KeyQuery) lambdaFilter() string {
	var owner []string
	if ks := q.kinds(); ks != nil {
		var alts []string
		for _, k := range ks {
			alts = append(alts, map[KeyKind]string{
				KindUser: isUserKey, KindProvisioning: isProvisioningKey, KindDevice: isDeviceKey,
			}[k])
		}
		owner = append(owner, actorAny(or(alts...)))
	}
	if q.Fleet != "" {
		owner = append(owner, actorAny(or(
			"a/is_of__application/any(f:"+fleetNamed("f", q.Fleet)+")",
			"a/is_of__device/any(d:d/belongs_to__application/any(df:"+fleetNamed("df", q.Fleet)+"))",
		)))
	}
	if q.Device != "" {
		owner = append(owner, actorAny("a/is_of__device/any(d:"+deviceNamed("d", q.Device)+")"))
	}
	if q.SeenBefore != nil {
		owner = append(owner, actorAny("a/is_of__device/any(d:"+seenBefore("d", *q.SeenBefore)+")"))
	}
	return and(append([]string{q.plainFilter()}, owner...)...)
}

func actorAny(cond string) string { return "is_of__actor/any(a:" + cond + ")" }

// actorFilter is the whole $filter where actor is not readable (as on
// open-balena): owners become sets of actor ids resolved beforehand. none
// says that nothing can match, which OData cannot say with an empty in ().
func (q KeyQuery) actorFilter(ax *actorSet) (filter string, none bool) {
	conds := []string{q.plainFilter()}
	if ks := q.kinds(); ks != nil {
		fleets := ax.fleetActors()
		var alts []string
		for _, k := range ks {
			switch {
			case k == KindUser:
				alts = append(alts, "is_of__actor eq "+num(ax.me.ActorID))
			case k == KindProvisioning && len(fleets) > 0:
				alts = append(alts, in("is_of__actor", fleets))
			case k == KindDevice:
				alts = append(alts, not(in("is_of__actor", append([]int64{ax.me.ActorID}, fleets...))))
			}
		}
		if len(alts) == 0 {
			return "", true
		}
		conds = append(conds, or(alts...))
	}
	if q.Fleet != "" {
		ids := ax.fleetNamedActors(q.Fleet)
		if len(ids) == 0 {
			return "", true
		}
		conds = append(conds, in("is_of__actor", ids))
	}
	for _, set := range []struct {
		asked   bool
		devices []Device
	}{{q.Device != "", ax.named}, {q.SeenBefore != nil, ax.silent}} {
		if !set.asked {
			continue
		}
		if len(set.devices) == 0 {
			return "", true
		}
		conds = append(conds, in("is_of__actor", deviceActors(set.devices)))
	}
	return and(conds...), false
}

// seenBefore is the condition of a silent device, as alias/field inside
// a lambda (alias "d") or as a plain field (alias ""): offline, and last
// seen before t or never. An online device's last_connectivity_event is
// when it came online, which says nothing of silence.
func seenBefore(alias string, t time.Time) string {
	p := ""
	if alias != "" {
		p = alias + "/"
	}
	return and(p+"is_online eq false", or(p+"last_connectivity_event eq null", p+"last_connectivity_event lt "+datetime(t)))
}

// isDigits reports whether s is one or more ASCII digits (no sign).
func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// fleetNamed is a fleet's condition in a lambda of alias: its slug or its
// name is text. A name that fleets of several organizations share names
// all of them.
func fleetNamed(alias, text string) string {
	lit := quote(text)
	return or(alias+"/slug eq "+lit, alias+"/app_name eq "+lit)
}
