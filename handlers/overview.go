package handlers

import (
	"cmp"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/errgroup"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/views"
)

// The overview's shape: its chart's weeks and how many keys a section lists.
const (
	overviewWeeks = 12
	overviewList  = 5
)

// overviewSection is a list of keys an admin should act on: one view of
// the keys page, its count and perhaps its first keys. A new section
// (stale device keys, policy breaches: any keys filter) is one more entry
// in overviewSections; it costs one balena call for its count (none with
// total) and one for its list, in the same round trip as the rest.
//
// The overview's budget is 20 calls where the caller may read actor: 15
// table counts, 1 list for the chart, and the sections' calls.
type overviewSection struct {
	title  string
	empty  string    // what the section says when no key is in it
	note   string    // more about the section, beside its count
	filter keyFilter // the view of /keys it counts and links to
	list   int       // how many of its keys to show; 0 for the count alone
	// total, if set, reads the count from the table instead of asking
	// balena, for a view that is a union of the table's cells.
	total func(t views.OverviewTable) int
}

// overviewSections are the overview's sections at now, in their order.
func (h keys) overviewSections(now time.Time) []overviewSection {
	stale := apikeys.StaleSince(now)
	sections := []overviewSection{
		{
			title: "Oldest keys that never expire", empty: "Every key has an expiry date.",
			filter: keyFilter{Filter: apikeys.Filter{Status: apiclient.StatusNever, Sort: apiclient.SortCreatedAt}},
			list:   overviewList,
			// Every key is of exactly one kind: the "never expire" column
			// adds up to this view.
			total: func(t views.OverviewTable) int { return t.RowTotal(string(apiclient.StatusNever)) },
		},
		{
			title: "Device keys of devices silent for " + strconv.Itoa(apikeys.StaleDays) + " days or more",
			empty: "Every device with a key has been in touch in the last " + strconv.Itoa(apikeys.StaleDays) + " days.",
			// Those silent longest first is not an order balena has: the
			// oldest keys first, as for never-expiring keys.
			filter: keyFilter{Filter: apikeys.Filter{Kinds: []apiclient.KeyKind{apiclient.KindDevice}, SeenBefore: &stale, Sort: apiclient.SortCreatedAt}},
			list:   overviewList,
		},
	}
	if p := h.rules.Policy(); p.Set() {
		// The count alone: the view lists them, with the bulk action that
		// mends them, and the budget has room for one call.
		breach := h.filter(url.Values{"policy": {"breach"}})
		sections = append(sections, overviewSection{
			title: "Keys that break the lifetime policy", empty: "Every key keeps the policy.",
			note:   strings.TrimSpace(p.ExpiryRule() + " " + p.DescriptionRule()),
			filter: breach,
		})
	}
	return sections
}

// overview shows what an admin should act on: the keys by kind and
// status, the expiries of the next weeks, and the sections. Every number
// is a link to the keys view it counts, read with that view's own query.
// All of it is read from balena at once, as the signed-in user.
func (h keys) overview(c echo.Context) error {
	// Its counts share one read of the fleets (needed where a key's actor
	// cannot be read), fresh for each request.
	api := h.api(c).Shared()
	now := h.now()
	base := h.url(routeKeys)
	view := func(f keyFilter) keyFilter { f.Page, f.PerPage = 1, apikeys.DefaultPerPage; return f }

	// The table: one count per status view and kind.
	var cells []keyFilter
	for _, s := range apikeys.StatusViews {
		for _, kind := range apikeys.Kinds {
			f := view(keyFilter{Filter: apikeys.Filter{Kinds: []apiclient.KeyKind{kind}, Status: s.Status, Within: apikeys.DefaultWithin, Sort: apiclient.SortCreatedAt, Desc: true}})
			if s.WithinDays > 0 {
				f.Within = s.WithinDays
			}
			cells = append(cells, f)
		}
	}
	// The chart: every key not yet expired whose expiry falls in the
	// weeks, with its kind, in one list.
	weeks := apikeys.Weeks(apikeys.Day(now), overviewWeeks)
	weekView := func(w apikeys.Week, kinds ...apiclient.KeyKind) keyFilter {
		start, end := w.Start, w.End
		return view(keyFilter{Filter: apikeys.Filter{Kinds: kinds, Status: apiclient.StatusActive, ExpiresAfter: &start, ExpiresBefore: &end, Sort: apiclient.SortExpiry}})
	}
	ahead := weekView(apikeys.Week{Start: weeks[0].Start, End: weeks[len(weeks)-1].End})

	sections := h.overviewSections(now)
	for i := range sections {
		sections[i].filter = view(sections[i].filter)
	}
	var (
		counts       []int
		expiring     []apiclient.APIKey
		sectionCount = make([]int, len(sections))
		sectionKeys  = make([][]apiclient.APIKey, len(sections))
		// A section's failure is its own: it says so in place, and the
		// rest of the page stands (a view balena refuses, say).
		countErr = make([]error, len(sections))
		listErr  = make([]error, len(sections))
	)
	g, ctx := errgroup.WithContext(c.Request().Context())
	g.Go(func() (err error) {
		qs := make([]apiclient.KeyQuery, len(cells))
		for i, f := range cells {
			qs[i] = f.Query()
		}
		counts, err = apikeys.CountEach(ctx, api, qs)
		return err
	})
	g.Go(func() (err error) {
		q := ahead.Query()
		q.Top, q.Skip = 0, 0 // all of them: one call, however many
		expiring, err = api.Keys(ctx, q)
		return err
	})
	for i, s := range sections {
		if s.total == nil {
			g.Go(func() error {
				sectionCount[i], countErr[i] = api.CountKeys(ctx, s.filter.Query())
				return nil
			})
		}
		if s.list > 0 {
			g.Go(func() error {
				q := s.filter.Query()
				q.Top = s.list
				sectionKeys[i], listErr[i] = api.Keys(ctx, q)
				return nil
			})
		}
	}
	err := g.Wait()
	if apiclient.ErrorCode(err) == apiclient.CodeUnauthorized {
		return err // the error handler ends the session
	}

	m := views.Overview{Page: h.page(c, "Overview"), KeysURL: base}
	m.Page.Current = views.NavOverview
	if err != nil {
		p := describe(err)
		m.Flash = views.Flash{Kind: "error", Text: "Could not load the overview: " + p.Message, Link: h.url(routeOverview), LinkText: "Try again"}
		m.Failed = true
		return render(c, p.Status, views.OverviewPage(m))
	}

	for _, kind := range apikeys.Kinds {
		m.Table.Kinds = append(m.Table.Kinds, string(kind))
	}
	for i, s := range apikeys.StatusViews {
		row := views.OverviewRow{ID: statusViewID(s), Label: s.Label}
		for j := range apikeys.Kinds {
			k := i*len(apikeys.Kinds) + j
			row.Cells = append(row.Cells, views.OverviewCount{N: counts[k], URL: cells[k].URL(base)})
		}
		m.Table.Rows = append(m.Table.Rows, row)
	}

	apikeys.CountByWeek(weeks, expiring)
	m.Chart = views.ExpiryChart{URL: ahead.URL(base), Kinds: m.Table.Kinds}
	for _, w := range weeks {
		cw := views.ChartWeek{Start: w.Start, Total: views.OverviewCount{N: w.Total(), URL: weekView(w).URL(base)}}
		for _, kind := range apikeys.Kinds {
			cw.ByKind = append(cw.ByKind, views.OverviewCount{N: w.ByKind[kind], URL: weekView(w, kind).URL(base)})
		}
		m.Chart.Weeks = append(m.Chart.Weeks, cw)
	}

	u := currentUser(c)
	for i, s := range sections {
		v := views.OverviewSection{Title: s.title, Empty: s.empty, Note: s.note, Count: views.OverviewCount{N: sectionCount[i], URL: s.filter.URL(base)}}
		if s.total != nil {
			v.Count.N = s.total(m.Table)
		}
		if err := cmp.Or(countErr[i], listErr[i]); err != nil {
			if sessionOver(err) {
				return err
			}
			v.Error = "Could not read these keys: " + describe(err).Message
		}
		// Each key opens its own page (a search for its id would also
		// match keys whose names hold those digits), whose "Back to keys"
		// is the section's view.
		links := h.rowLinks(v.Count.URL)
		for _, k := range sectionKeys[i] {
			v.Keys = append(v.Keys, views.OverviewKey{Row: keyRow(k, u.Identity, now), URL: links.keyPage(k.ID)})
		}
		m.Sections = append(m.Sections, v)
	}
	return render(c, http.StatusOK, views.OverviewPage(m))
}

// statusViewID names a status view's row in the page: its status, and its
// window for "expiring".
func statusViewID(s apikeys.StatusView) string {
	if s.WithinDays > 0 {
		return string(s.Status) + "-" + strconv.Itoa(s.WithinDays)
	}
	return string(s.Status)
}
