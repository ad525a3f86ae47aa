package handlers

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/audit"
	"github.com/keyportal/keyportal/internal/session"
	"github.com/keyportal/keyportal/internal/ttlcache"
	"github.com/keyportal/keyportal/views"
)

// auditPerPage is the audit page's page size.
const auditPerPage = 50

// auditExportPage is how many events each read of an export takes.
const auditExportPage = 1000

// auditPage serves /audit: the audit trail, filtered by the URL, limited
// to what the signed-in user may see.
type auditPage struct {
	*Server
	visible *ttlcache.Cache[[32]byte, []int64] // by hash of token: the ids of the keys it can see
}

// visibleTTL is how long the ids of the keys a session can see are reused:
// asking balena for them is most of a view's time (tens of thousands of
// ids for a large organisation), and paging or filtering within half a
// minute should not ask again. A key made since is the user's own action,
// which they see anyway.
const visibleTTL = 30 * time.Second

// maxVisibleEntries bounds the cache: each entry is 8 bytes per key.
const maxVisibleEntries = 256

func newAuditPage(s *Server) auditPage {
	return auditPage{Server: s, visible: ttlcache.New[[32]byte, []int64](visibleTTL, maxVisibleEntries, s.now)}
}

func (h auditPage) routes(g *echo.Group) {
	g.GET("/audit", h.list).Name = routeAudit
	g.GET("/audit/export", h.export).Name = routeAuditExport
}

// auditFilter is the audit view as the URL states it. Like the keys
// view's, a bad value is reported at its field and ignored.
type auditFilter struct {
	Actor, Action, Kind, Fleet, Outcome string
	Key                                 int64
	After, Before                       *time.Time
	Page                                int

	raw    url.Values
	Errors map[string]string
}

// actorText is a balena username or user id as the actor filter takes it.
var actorText = regexp.MustCompile(`^[A-Za-z0-9_.@+-]{1,100}$`)

var outcomes = []string{string(apikeys.Done), string(apikeys.NotDone), string(apikeys.Unknown)}

func parseAuditFilter(v url.Values) auditFilter {
	f := auditFilter{raw: v, Errors: map[string]string{}, Page: 1}
	bad := func(field, msg string) { f.Errors[field] = msg }
	if s := strings.TrimSpace(v.Get("actor")); s != "" {
		if actorText.MatchString(s) {
			f.Actor = s
		} else {
			bad("actor", "Actor "+apikeys.Quote(strings.ToValidUTF8(s, ""))+" is neither a balena username nor a user id.")
		}
	}
	if s := v.Get("action"); s != "" {
		if slices.ContainsFunc(apikeys.Actions, func(a struct{ Name, Words string }) bool { return a.Name == s }) {
			f.Action = s
		} else {
			bad("action", "Action "+apikeys.Quote(strings.ToValidUTF8(s, ""))+" is not one of the audit trail's actions.")
		}
	}
	if s := strings.TrimSpace(v.Get("key")); s != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
		if err != nil || n < 1 {
			bad("key", "Key "+apikeys.Quote(strings.ToValidUTF8(s, ""))+" is not a key id (a whole number).")
		} else {
			f.Key = n
		}
	}
	if s := v.Get("kind"); s != "" {
		if k, ok := apikeys.ParseKind(s); ok {
			f.Kind = string(k)
		} else {
			bad("kind", "Kind "+apikeys.Quote(strings.ToValidUTF8(s, ""))+" is not one of user, provisioning or device.")
		}
	}
	if s := strings.TrimSpace(v.Get("fleet")); s != "" {
		if apikeys.ValidFleetSlug(s) {
			f.Fleet = s
		} else {
			bad("fleet", "Fleet "+apikeys.Quote(strings.ToValidUTF8(s, ""))+" is not a fleet slug like org/fleet-name.")
		}
	}
	if s := v.Get("outcome"); s != "" {
		if slices.Contains(outcomes, s) {
			f.Outcome = s
		} else {
			bad("outcome", "Outcome "+apikeys.Quote(strings.ToValidUTF8(s, ""))+" is not one of ok, failed or unknown.")
		}
	}
	f.After = parseDay(v, "after", false, bad)
	f.Before = parseDay(v, "before", true, bad)
	if f.After != nil && f.Before != nil && !f.After.Before(*f.Before) {
		bad("before", "“To” is before “From”.")
		f.Before = nil
	}
	if s := v.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			bad("page", "Page "+apikeys.Quote(strings.ToValidUTF8(s, ""))+" is not a page number; showing the first page.")
		} else {
			f.Page = n
		}
	}
	return f
}

// values is the canonical query string of the valid part of the filter.
func (f auditFilter) values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("actor", f.Actor)
	set("action", f.Action)
	if f.Key != 0 {
		v.Set("key", strconv.FormatInt(f.Key, 10))
	}
	set("kind", f.Kind)
	set("fleet", f.Fleet)
	set("outcome", f.Outcome)
	if f.After != nil {
		v.Set("after", f.After.Format(time.DateOnly))
	}
	if f.Before != nil {
		v.Set("before", f.Before.AddDate(0, 0, -1).Format(time.DateOnly))
	}
	if f.Page > 1 {
		v.Set("page", strconv.Itoa(f.Page))
	}
	return v
}

func (f auditFilter) url(base string) string {
	if q := f.values().Encode(); q != "" {
		return base + "?" + q
	}
	return base
}

// query is the filter as the store reads it, for one page, within scope
// (what the reader may see, as h.scope says it).
func (f auditFilter) query(scope audit.Filter) audit.Filter {
	q := audit.Filter{Actor: f.Actor, Action: f.Action, KeyID: f.Key, Kind: f.Kind, Fleet: f.Fleet, Outcome: f.Outcome,
		All: scope.All, KeyIDs: scope.KeyIDs, ActorID: scope.ActorID,
		Offset: (f.Page - 1) * auditPerPage, Limit: auditPerPage}
	if f.After != nil {
		q.After = *f.After
	}
	if f.Before != nil {
		q.Before = *f.Before
	}
	return q
}

// form is the filter as the form shows it: the raw value where it was bad.
func (f auditFilter) form() views.AuditFilter {
	vals := f.values()
	pick := func(name string) string {
		if _, isBad := f.Errors[name]; isBad {
			return f.raw.Get(name)
		}
		return vals.Get(name)
	}
	return views.AuditFilter{Actor: pick("actor"), Action: pick("action"), Key: pick("key"), Kind: pick("kind"), Fleet: pick("fleet"),
		Outcome: pick("outcome"), After: pick("after"), Before: pick("before"), Errors: f.Errors}
}

// auditAdmin reports whether u is named in KEYPORTAL_AUDIT_ADMINS, by
// balena username (any case) or user id.
func (s *Server) auditAdmin(u *session.User) bool {
	id := u.Identity
	if id.ActorType != "" && id.ActorType != "user" {
		return false
	}
	for _, a := range s.cfg.AuditAdmins {
		if (id.Username != "" && strings.EqualFold(a, id.Username)) || (id.ActorTypeID != 0 && a == strconv.FormatInt(id.ActorTypeID, 10)) {
			return true
		}
	}
	return false
}

// scope is who may see what: everything for an audit admin; else the
// events of the keys the user can see now (their ids, from balena) and the
// user's own actions.
func (h auditPage) scope(c echo.Context, u *session.User) (audit.Filter, error) {
	if h.auditAdmin(u) {
		return audit.Filter{All: true}, nil
	}
	key := sha256.Sum256([]byte(u.Token))
	ids, ok := h.visible.Get(key)
	if !ok {
		var err error
		if ids, err = h.balena.As(u.Token).WithIdentity(u.Identity).KeyIDs(c.Request().Context()); err != nil {
			return audit.Filter{}, err
		}
		h.visible.Put(key, ids)
	}
	return audit.Filter{KeyIDs: ids, ActorID: u.Identity.ActorID}, nil
}

func scopeText(admin bool) string {
	if admin {
		return "You see every event: you are an audit administrator (KEYPORTAL_AUDIT_ADMINS)."
	}
	return "You see the events of the keys you can see now, and your own actions. Audit administrators (KEYPORTAL_AUDIT_ADMINS) see every event."
}

// auditReadTimeout bounds one read of the trail (a page, or a thousand
// events of an export): a database that hangs rather than refuses must
// give the page its banner, not hold it for as long as the browser waits.
// Over 100,000 events a page takes tens of milliseconds (make bench §9).
const auditReadTimeout = 10 * time.Second

// read is one read of the trail, bounded by auditReadTimeout.
func (h auditPage) read(ctx context.Context, q audit.Filter) ([]audit.Entry, int, error) {
	ctx, cancel := context.WithTimeout(ctx, auditReadTimeout)
	defer cancel()
	return h.auditDB.List(ctx, q)
}

// list shows one page of events, newest first.
func (h auditPage) list(c echo.Context) error {
	u := currentUser(c)
	f := parseAuditFilter(c.QueryParams())
	fragment := isHTMX(c)
	base := h.url(routeAudit)
	if !fragment && len(f.Errors) == 0 && hasEmptyParam(c.QueryParams()) {
		return c.Redirect(http.StatusSeeOther, f.url(base))
	}
	status := http.StatusOK
	r := views.AuditResults{Page: f.Page, Return: f.url(base)}
	scope, err := h.scope(c, u)
	if apiclient.ErrorCode(err) == apiclient.CodeUnauthorized {
		return err // the error handler ends the session
	}
	var entries []audit.Entry
	var total int
	if err != nil {
		p := describe(err)
		status, r.Failed = p.Status, true
		r.Flash = views.Flash{Kind: "error", Text: "Could not load the audit trail: balena did not say which keys you can see. " + p.Message}
	} else {
		q := f.query(scope)
		if entries, total, err = h.read(c.Request().Context(), q); err != nil {
			logAuditReadFailure(c.Request().Context(), h.log, "audit page", err)
			status, r.Failed = http.StatusServiceUnavailable, true
			r.Flash = views.Flash{Kind: "error", Text: auditUnavailable}
		}
	}
	if !r.Failed {
		h.auditResults(&r, f, entries, total)
		if len(f.Errors) > 0 {
			status = http.StatusBadRequest
			r.Flash = views.Flash{Kind: "warning", Text: "Some filters in this link are not valid and were ignored; see the marked fields."}
		}
	}
	c.Response().Header().Add("Vary", hxRequest)
	if fragment {
		c.Response().Header().Set(hxPushURL, f.url(base))
		return render(c, status, views.AuditResultsUpdate(r, f.form()))
	}
	page := h.page(c, "Audit trail")
	page.Current = views.NavAudit
	return render(c, status, views.AuditPage(views.Audit{
		Page:    page,
		Action:  base,
		Filter:  f.form(),
		Results: r,
		Scope:   scopeText(scope.All),
		Actions: actionOptions(),
	}))
}

// hasEmptyParam reports whether a query names a parameter without a
// value, as a plain form submission does: its canonical URL leaves them out.
func hasEmptyParam(q url.Values) bool {
	for _, vals := range q {
		if slices.Contains(vals, "") {
			return true
		}
	}
	return false
}

// auditResults fills r with a page of events.
func (h auditPage) auditResults(r *views.AuditResults, f auditFilter, entries []audit.Entry, total int) {
	base := h.url(routeAudit)
	now := h.now()
	r.Total = total
	r.Pages = (total + auditPerPage - 1) / auditPerPage
	if len(entries) > 0 {
		r.From = (f.Page-1)*auditPerPage + 1
		r.To = r.From + len(entries) - 1
	}
	at := func(p int) string { g := f; g.Page = p; return g.url(base) }
	if f.Page > 1 {
		r.PrevURL = at(min(f.Page-1, max(r.Pages, 1)))
	}
	if f.Page < r.Pages {
		r.NextURL = at(f.Page + 1)
	}
	r.ExportCSV, r.ExportJSON = h.auditExportURL(f, "csv"), h.auditExportURL(f, "json")
	switch {
	case total == 0 && len(f.values()) > 0:
		r.Empty = "No events match these filters."
	case total == 0:
		r.Empty = "No events yet: changes made through the portal appear here."
	case len(entries) == 0:
		r.Empty = "Page " + strconv.Itoa(f.Page) + " is past the last page (" + strconv.Itoa(r.Pages) + ")."
	}
	for _, e := range entries {
		row := auditRow(e, now)
		// The key's own page, even once it is gone: it then says so and
		// shows the key's history to who may see it.
		if e.KeyID != 0 {
			row.KeyURL = h.url(routeKeyShow, e.KeyID)
		}
		if e.NewKey != 0 {
			row.NewKeyURL = h.url(routeKeyShow, e.NewKey)
		}
		r.Rows = append(r.Rows, row)
	}
}

// actionOptions are the actions as the filter offers them.
func actionOptions() []views.Option {
	opts := make([]views.Option, len(apikeys.Actions))
	for i, a := range apikeys.Actions {
		opts[i] = views.Option{Value: a.Name, Label: a.Words}
	}
	return opts
}

// actionWords is an action as the page says it.
func actionWords(action string) string {
	for _, a := range apikeys.Actions {
		if a.Name == action {
			return a.Words
		}
	}
	return action
}

// auditRow is one event as the table shows it.
func auditRow(e audit.Entry, now time.Time) views.AuditRow {
	row := views.AuditRow{
		ID: e.ID, When: views.RelTime(e.At, now), WhenISO: e.At.Format(time.RFC3339), WhenExact: e.At.Format("2 Jan 2006 15:04:05 UTC"),
		Who: e.Username, Action: actionWords(e.Action), Kind: e.Kind, Owner: e.Owner, KeyName: e.KeyName,
		Outcome: e.Outcome, Reason: e.Reason, Verified: e.Verified, Bulk: e.Bulk, RequestID: e.RequestID,
	}
	if row.Who == "" {
		row.Who = "actor " + strconv.FormatInt(e.ActorID, 10)
	}
	if e.KeyID != 0 {
		row.Key = "#" + strconv.FormatInt(e.KeyID, 10)
	}
	if e.NewKey != 0 {
		row.NewKey = "#" + strconv.FormatInt(e.NewKey, 10)
	}
	row.Changes = changeLines(e.Changes, pageValue)
	return row
}

// changeLines are an event's changes in words: "name: old → new", each
// value written by show.
func changeLines(chs []apikeys.Change, show func(field, value string) string) []string {
	var out []string
	for _, c := range chs {
		switch {
		case c.Old == nil && c.New != nil:
			out = append(out, c.Field+": "+show(c.Field, *c.New))
		case c.Old != nil && c.New != nil:
			out = append(out, c.Field+": "+show(c.Field, *c.Old)+" → "+show(c.Field, *c.New))
		}
	}
	return out
}

// pageValue is a recorded value as the audit page shows it: a time as
// every page writes times, text in quotes so that spaces show.
func pageValue(field, value string) string {
	v := changeValue(field, value)
	if value == "" || field == "expiry" {
		return v
	}
	return "“" + v + "”"
}

// exportValue is a recorded value as the CSV export writes it: as stored
// (an expiry in RFC 3339, for spreadsheets and scripts), text in quotes.
func exportValue(_, value string) string {
	if value == "" {
		return "(empty)"
	}
	return "“" + value + "”"
}

// auditExportURL is the export of the view f in format.
func (h auditPage) auditExportURL(f auditFilter, format string) string {
	v := f.values()
	v.Del("page")
	v.Set("format", format)
	return h.url(routeAuditExport) + "?" + v.Encode()
}

// auditExportRow is one event as exported.
type auditExportRow struct {
	ID        int64            `json:"id"`
	At        time.Time        `json:"at"`
	Action    string           `json:"action"`
	ActorID   int64            `json:"actor_id"`
	Username  string           `json:"username"`
	KeyID     int64            `json:"key_id,omitempty"`
	Kind      string           `json:"kind"`
	Owner     string           `json:"owner"`
	Fleet     string           `json:"fleet,omitempty"`
	KeyName   string           `json:"key_name"`
	Changes   []exportedChange `json:"changes"`
	NewKey    int64            `json:"new_key,omitempty"`
	Bulk      bool             `json:"bulk"`
	Outcome   string           `json:"outcome"`
	Reason    string           `json:"reason,omitempty"`
	Verified  bool             `json:"verified"`
	RequestID string           `json:"request_id"`
}

type exportedChange struct {
	Field string  `json:"field"`
	Old   *string `json:"old"`
	New   *string `json:"new"`
}

// export streams every event of the view as CSV or JSON, a thousand at a
// time.
func (h auditPage) export(c echo.Context) error {
	format, err := exportFormat(c)
	if err != nil {
		return err
	}
	f := parseAuditFilter(c.QueryParams())
	if err := apikeys.Invalid(f.Errors); err != nil {
		return err
	}
	scope, err := h.scope(c, currentUser(c))
	if err != nil {
		return err
	}
	q := f.query(scope)
	q.Offset, q.Limit = 0, auditExportPage
	ctx := c.Request().Context()
	entries, total, err := h.read(ctx, q)
	if err != nil {
		logAuditReadFailure(ctx, h.log, "audit export", err)
		return auditReadError{err}
	}
	q.NoCount = true // this total bounds the export: the later reads need not count again
	read := 0
	out := startExport(c, format, "audit-"+h.now().UTC().Format("20060102-150405"), []string{"id", "at", "action", "actor_id",
		"username", "key_id", "kind", "owner", "fleet", "key_name", "changes", "new_key", "bulk", "outcome", "reason", "verified", "request_id"})
	for {
		for _, e := range entries {
			out.row(func() []string {
				return []string{strconv.FormatInt(e.ID, 10), e.At.Format(time.RFC3339), e.Action, strconv.FormatInt(e.ActorID, 10),
					safeCell(e.Username), strconv.FormatInt(e.KeyID, 10), e.Kind, safeCell(e.Owner), safeCell(e.Fleet), safeCell(e.KeyName),
					safeCell(strings.Join(changeLines(e.Changes, exportValue), "; ")), strconv.FormatInt(e.NewKey, 10), strconv.FormatBool(e.Bulk),
					e.Outcome, safeCell(e.Reason), strconv.FormatBool(e.Verified), safeCell(e.RequestID)}
			}, exportOf(e))
		}
		out.flush()
		read += len(entries)
		if len(entries) == 0 || read >= total {
			break
		}
		// On from the last event written: an offset would walk again past
		// every event before it, and shift under events written meanwhile.
		q.OlderThan = entries[len(entries)-1].Position()
		if entries, _, err = h.read(ctx, q); err != nil {
			// Headers are gone; a truncated file must not look complete.
			h.log.Warn("audit export stopped", "error", err, "after", read)
			panic(http.ErrAbortHandler)
		}
	}
	out.end()
	return nil
}

func exportOf(e audit.Entry) auditExportRow {
	chs := make([]exportedChange, len(e.Changes))
	for i, c := range e.Changes {
		chs[i] = exportedChange{Field: c.Field, Old: c.Old, New: c.New}
	}
	return auditExportRow{ID: e.ID, At: e.At, Action: e.Action, ActorID: e.ActorID, Username: e.Username, KeyID: e.KeyID, Kind: e.Kind,
		Owner: e.Owner, Fleet: e.Fleet, KeyName: e.KeyName, Changes: chs, NewKey: e.NewKey, Bulk: e.Bulk, Outcome: e.Outcome,
		Reason: e.Reason, Verified: e.Verified, RequestID: e.RequestID}
}
