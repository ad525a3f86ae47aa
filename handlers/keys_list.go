package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/session"
	"github.com/keyportal/keyportal/views"
)

// list shows one page of keys. Filtering, sorting, paging and counting all
// happen at balena; the list, its count and (when not cached) the fleet
// names for the filter are fetched at once, in parallel.
func (h keys) list(c echo.Context) error {
	u := currentUser(c)
	f := h.filter(c.QueryParams())
	api := h.api(c)
	ctx := c.Request().Context()
	fragment := isHTMX(c)
	if !fragment && len(f.Errors) == 0 && hasIdleParams(c.QueryParams(), f) {
		// A plain form submission sends every field, empty or not; its
		// canonical URL is the one htmx pushes, and the one to share.
		return c.Redirect(http.StatusSeeOther, f.URL(h.url(routeKeys)))
	}

	var (
		wg       sync.WaitGroup
		fleets   []apiclient.Fleet
		fleetErr error
	)
	if !fragment {
		var cached bool
		if fleets, cached = h.fleetCache.cached(u.Token); !cached {
			wg.Add(1)
			go func() { defer wg.Done(); fleets, fleetErr = h.fleets(c) }()
		}
	}
	page, listErr := api.ListKeys(ctx, f.Query())
	if listErr == nil && f.Device != "" && page.Total == 0 {
		// A device filter that finds nothing: say so beside the field
		// when no device has that name or uuid prefix at all (a typo),
		// and show the rest of the view, as for any bad value.
		var problem string
		if problem, listErr = apikeys.NoDevice(ctx, api, f.Device); problem != "" {
			f.Errors["device"], f.Device = problem, ""
			page, listErr = api.ListKeys(ctx, f.Query())
		}
	}
	wg.Wait()
	if apiclient.ErrorCode(listErr) == apiclient.CodeUnauthorized {
		return listErr // the error handler ends the session
	}

	status := http.StatusOK
	results := h.results(c, f, u, page)
	if len(f.Errors) > 0 {
		status = http.StatusBadRequest
		text := "Some filters in this link are not valid and were ignored; see the marked fields."
		if typed(c) {
			text = "Some of these filters are not valid and were ignored; see the marked fields."
		}
		results.Flash = views.Flash{Kind: "warning", Text: text}
	}
	if listErr != nil {
		p := describe(listErr)
		status = p.Status
		results = views.KeyResults{Failed: true, Flash: views.Flash{Kind: "error", Text: "Could not load keys: " + p.Message},
			Return: f.URL(h.url(routeKeys)), Sort: f.SortParam()}
	}

	c.Response().Header().Add("Vary", hxRequest)
	if fragment {
		c.Response().Header().Set(hxPushURL, f.URL(h.url(routeKeys)))
		return render(c, status, views.KeyResultsUpdate(results, f.form()))
	}
	m := views.Keys{
		Page:       h.keysPage(c, "API keys"),
		Action:     h.url(routeKeys),
		Filter:     f.form(),
		Results:    results,
		Flash:      h.flash.take(c),
		CreateURL:  h.url(routeKeyNew),
		DevicesURL: h.url(routeKeyDevices),
		Alerts:     h.alertsLine(),
	}
	if fleetErr == nil {
		for _, fl := range fleets {
			m.Fleets = append(m.Fleets, fl.Slug)
		}
	}
	return render(c, status, views.KeysPage(m))
}

// typed reports whether the filters were chosen in the form (with htmx, or
// submitted from a portal page), rather than opened as a link.
func typed(c echo.Context) bool {
	return isHTMX(c) || c.Request().Header.Get("Sec-Fetch-Site") == "same-origin"
}

// hasIdleParams reports whether a query names a parameter it does not need:
// an empty one, or "within" for a status other than "expiring".
func hasIdleParams(q url.Values, f keyFilter) bool {
	for name, vals := range q {
		if name == "within" && f.Status != apiclient.StatusExpiring {
			return true
		}
		for _, v := range vals {
			if v == "" {
				return true
			}
		}
	}
	return false
}

// results turns a page of keys into the table's view model.
func (h keys) results(c echo.Context, f keyFilter, u *session.User, page apiclient.KeyPage) views.KeyResults {
	now := h.now()
	base := h.url(routeKeys)
	r := views.KeyResults{Total: page.Total, Page: f.Page, CSRF: csrfToken(c), Return: f.URL(base), Sort: f.SortParam(), BulkURL: h.url(routeKeyBulk),
		CanChange: u.CanChangeKeys, PolicyMax: h.rules.Policy().MaxLifetime > 0}
	r.ExportCSV, r.ExportJSON = h.exportURL(f, "csv"), h.exportURL(f, "json")
	r.Pages = (page.Total + f.PerPage - 1) / f.PerPage
	if len(page.Keys) > 0 {
		r.From = (f.Page-1)*f.PerPage + 1
		r.To = r.From + len(page.Keys) - 1
	}
	at := func(p int) string { g := f; g.Page = p; return g.URL(base) }
	if f.Page > 1 {
		r.PrevURL = at(min(f.Page-1, max(r.Pages, 1)))
	}
	if f.Page < r.Pages {
		r.NextURL = at(f.Page + 1)
	}
	switch {
	case page.Total == 0 && (len(f.Values()) > 0):
		r.Empty = "No keys match these filters."
	case page.Total == 0:
		r.Empty = "This account cannot see any API keys yet."
	case len(page.Keys) == 0:
		r.Empty = "Page " + strconv.Itoa(f.Page) + " is past the last page (" + strconv.Itoa(r.Pages) + ")."
	}
	for _, col := range []struct {
		label string
		field apiclient.SortField
	}{{"Name", apiclient.SortName}, {"Kind", ""}, {"Owner", ""}, {"Description", ""},
		{"Created", apiclient.SortCreatedAt}, {"Expires", apiclient.SortExpiry}, {"Last seen", ""}, {"ID", ""}, {"Actions", ""}} {
		if col.label == "Actions" && !r.CanChange {
			continue
		}
		v := views.Column{Label: col.label}
		if col.field != "" {
			g := f
			g.Page = 1
			if f.Sort == col.field {
				v.Sorted = map[bool]string{true: "descending", false: "ascending"}[f.Desc]
				g.Desc = !f.Desc
			} else {
				g.Sort, g.Desc = col.field, col.field == apiclient.SortCreatedAt
			}
			v.SortURL = g.URL(base)
		}
		r.Columns = append(r.Columns, v)
	}
	links := h.rowLinks(r.Return)
	r.Menu = links.menu
	r.Rows = make([]views.KeyRow, 0, len(page.Keys))
	ids := make([]int64, 0, len(page.Keys))
	for _, k := range page.Keys {
		r.Rows = append(r.Rows, links.row(k, u.Identity, now))
		ids = append(ids, k.ID)
	}
	// One query for the whole page's lineage, none at balena.
	if lineage := h.lineage(c.Request().Context(), ids); len(lineage) > 0 {
		for i := range r.Rows {
			links.withLineage(&r.Rows[i], lineage[r.Rows[i].ID])
		}
	}
	return r
}

// rowLinks are the URLs of a row's actions with the key id left as the
// slot {id}: the page sends its menu once, as a template that app.js fills
// for the row whose menu opens (a menu in every row was most of a page's
// bytes), and each row carries only the link to its actions page.
type rowLinks struct {
	menu    views.RowMenu
	actions [2]string // a row's actions page, before and after its id, "?return=<this view>" included
	page    [2]string // the key's own page, likewise
}

const idSlot = "{id}"

func (h keys) rowLinks(view string) rowLinks {
	q := "?" + url.Values{"return": {view}}.Encode()
	l := rowLinks{
		menu: views.RowMenu{
			EditURL: h.url(routeKeyEdit, idSlot) + q, RotateURL: h.url(routeKeyRotate, idSlot) + q,
			RevokeURL: h.url(routeKeyRevoke, idSlot) + q,
			ExpireURL: h.url(routeKeyExpireAsk, idSlot) + q, ClearURL: h.url(routeKeyClearAsk, idSlot) + q,
		},
	}
	if !h.rules.Policy().Offers(apikeys.ExpiryNever, h.now()) {
		l.menu.ClearURL = "" // a maximum lifetime: no key may be made never to expire
	}
	before, after, _ := strings.Cut(h.url(routeKeyActions, idSlot), idSlot)
	l.actions = [2]string{before, after + q}
	before, after, _ = strings.Cut(h.url(routeKeyShow, idSlot), idSlot)
	l.page = [2]string{before, after + h.backQuery(view)}
	return l
}

// row formats one key for the table.
func (l rowLinks) row(k apiclient.APIKey, me apiclient.Identity, now time.Time) views.KeyRow {
	row := keyRow(k, me, now)
	row.ActionsURL = l.actions[0] + strconv.FormatInt(k.ID, 10) + l.actions[1]
	row.URL = l.keyPage(k.ID)
	return row
}

// keyPage is the page of key id, remembering the view these links serve.
func (l rowLinks) keyPage(id int64) string { return l.page[0] + strconv.FormatInt(id, 10) + l.page[1] }

// forKey is the menu of one key, its slots filled.
func (l rowLinks) forKey(id int64) views.RowMenu {
	at := func(tmpl string) string { return strings.Replace(tmpl, idSlot, strconv.FormatInt(id, 10), 1) }
	m := l.menu
	m.EditURL, m.RotateURL, m.RevokeURL, m.ExpireURL, m.ClearURL = at(m.EditURL), at(m.RotateURL), at(m.RevokeURL), at(m.ExpireURL), at(m.ClearURL)
	return m
}

// keyRow formats one key for display.
func keyRow(k apiclient.APIKey, me apiclient.Identity, now time.Time) views.KeyRow {
	v := apikeys.ViewOf(k, me, now)
	row := views.KeyRow{
		ID: v.ID, Name: v.Name, Label: apikeys.Title(k), Kind: string(v.Kind), Description: v.Description,
		Owner: v.Owner, OwnerDetail: v.OwnerDetail, ExpiryState: string(v.Status),
		Created:    views.RelTime(v.CreatedAt, now),
		CreatedISO: v.CreatedAt.UTC().Format(time.RFC3339),
	}
	if v.Kind == "" {
		row.Kind = "unknown"
	}
	if v.Mine {
		row.Owner, row.OwnerDetail = "you", me.Username
	}
	row.LastSeen, row.LastSeenISO, row.LastSeenState = lastSeen(v.LastSeen, now)
	switch e := v.ExpiryDate; {
	case e == nil:
		row.Expires = "never"
	case v.Status == apikeys.StatusExpired:
		row.Expires, row.ExpiresISO = "expired "+views.RelTime(*e, now), e.UTC().Format(time.RFC3339)
	default:
		row.Expires, row.ExpiresISO = views.RelTime(*e, now), e.UTC().Format(time.RFC3339)
	}
	return row
}

// lastSeen words a device's last contact for the table: "Online", "Never",
// or how long ago (with the exact moment); "–" for keys of other kinds.
func lastSeen(l apikeys.LastSeen, now time.Time) (text, iso, state string) {
	switch {
	case !l.Device:
		return "–", "", "none"
	case l.Online:
		return "Online", "", "online"
	case l.At == nil:
		return "Never", "", "never"
	}
	return views.RelTime(*l.At, now), l.At.UTC().Format(time.RFC3339), "seen"
}
