package apikeys

import (
	"net/url"
	"strconv"
	"time"

	"github.com/keyportal/keyportal/apiclient"
)

// Filter is a view of the keys as the keys page's URL states it: every
// filter, the sort and the page. The page reads one from its query string;
// whatever links to a view of keys (an alert, a digest) writes one with
// URL, so that there is one way to spell a view.
type Filter struct {
	Q             string
	Kinds         []apiclient.KeyKind // nil: every kind
	Fleet         string
	Device        string
	Status        apiclient.Status
	Within        int // days, for StatusExpiring
	CreatedAfter  *time.Time
	CreatedBefore *time.Time // exclusive: the day after the last day included
	ExpiresAfter  *time.Time
	ExpiresBefore *time.Time // exclusive, as CreatedBefore
	SeenBefore    *time.Time // device keys whose device was last seen before this day, or never
	Breach        bool       // policy=breach: the keys that break the lifetime policy
	Sort          apiclient.SortField
	Desc          bool
	Page          int
	PerPage       int
}

// The keys page's defaults, which URLs leave out.
const (
	DefaultPerPage = 50
	DefaultWithin  = 7
)

// NewFilter is the view with nothing chosen: every key, newest first, the
// first page.
func NewFilter() Filter {
	return Filter{Page: 1, PerPage: DefaultPerPage, Sort: apiclient.SortCreatedAt, Desc: true, Within: DefaultWithin}
}

// Query is the filter as an apiclient query for its page.
func (f Filter) Query() apiclient.KeyQuery {
	within := 0
	if f.Status == apiclient.StatusExpiring {
		within = f.Within // meaningless otherwise; leaving it out keeps equal views equal
	}
	return apiclient.KeyQuery{
		Kinds: f.Kinds, Fleet: f.Fleet, Device: f.Device, Text: f.Q,
		Status: f.Status, WithinDays: within,
		CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore,
		ExpiresAfter: f.ExpiresAfter, ExpiresBefore: f.ExpiresBefore,
		SeenBefore: f.SeenBefore, Sort: f.Sort, Desc: f.Desc,
		Top: f.PerPage, Skip: (f.Page - 1) * f.PerPage,
	}
}

// SortParam is the sort as the URL writes it.
func (f Filter) SortParam() string {
	if f.Desc {
		return "-" + string(f.Sort)
	}
	return string(f.Sort)
}

// Values is the canonical query string of the filter; defaults are left
// out so that links stay short.
func (f Filter) Values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("q", f.Q)
	for _, k := range f.Kinds {
		v.Add("kind", string(k))
	}
	set("fleet", f.Fleet)
	set("device", f.Device)
	set("status", string(f.Status))
	if f.Status == apiclient.StatusExpiring && f.Within != DefaultWithin {
		v.Set("within", strconv.Itoa(f.Within))
	}
	day := func(k string, t *time.Time, end bool) {
		if t != nil {
			d := *t
			if end {
				d = d.AddDate(0, 0, -1)
			}
			v.Set(k, d.Format(time.DateOnly))
		}
	}
	day("created_after", f.CreatedAfter, false)
	day("created_before", f.CreatedBefore, true)
	day("expires_after", f.ExpiresAfter, false)
	day("expires_before", f.ExpiresBefore, true)
	day("seen_before", f.SeenBefore, false)
	if f.Breach {
		v.Set("policy", "breach")
	}
	if s := f.SortParam(); s != "-created_at" {
		v.Set("sort", s)
	}
	if f.Page > 1 {
		v.Set("page", strconv.Itoa(f.Page))
	}
	if f.PerPage != DefaultPerPage {
		v.Set("per_page", strconv.Itoa(f.PerPage))
	}
	return v
}

// URL is the keys page at base with this filter.
func (f Filter) URL(base string) string {
	if q := f.Values().Encode(); q != "" {
		return base + "?" + q
	}
	return base
}
