package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/audit"
	"github.com/keyportal/keyportal/views"
)

// keyHistory is what the key pages read of the audit trail (*audit.Store):
// one key's events, and the rotation lineage of a page of keys in one
// query.
type keyHistory interface {
	History(ctx context.Context, keyID int64, limit int) ([]audit.Entry, error)
	Lineage(ctx context.Context, keyIDs []int64) (map[int64]audit.Link, error)
}

// auditUnavailable is what a page says in place of the audit trail it
// cannot read.
const auditUnavailable = "The audit trail is not available right now: the portal cannot reach its audit database. " +
	"Keys can still be changed, and each change is recorded in the portal's log. Try again in a moment."

// auditReadError is a failure to read the audit trail, which a page
// answers with auditUnavailable (503).
type auditReadError struct{ error }

// logAuditReadFailure logs a failed read of the audit trail, what for,
// unless the store has not reached its database since the portal started:
// it has said so in the log once, and a line per page view would bury it.
func logAuditReadFailure(ctx context.Context, log *slog.Logger, what string, err error, attrs ...slog.Attr) {
	if errors.Is(err, audit.ErrUnavailable) {
		return
	}
	log.LogAttrs(ctx, slog.LevelWarn, what+": the audit database did not answer", append(attrs, slog.String("error", err.Error()))...)
}

// keyTrailTimeout bounds a keys page's reads of the audit trail (the
// lineage, a key's history): a database that hangs rather than refuses
// must not hang the keys, which are served without the trail as when it is
// down. A change waits as long for its event (audit.DefaultWriteTimeout).
const keyTrailTimeout = audit.DefaultWriteTimeout

// historyLimit is how many of a key's events its page shows, newest first.
const historyLimit = 50

// lineage is the rotation lineage of keys, or none when the trail cannot
// be read: a list of keys never fails for it.
func (h keys) lineage(ctx context.Context, ids []int64) map[int64]audit.Link {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, keyTrailTimeout)
	defer cancel()
	links, err := h.history.Lineage(ctx, ids)
	if err != nil {
		logAuditReadFailure(ctx, h.log, "audit trail: reading the lineage of keys", err)
		return nil
	}
	return links
}

// oneRow is k's row in the keys view view, for an htmx answer to a change
// of one key.
func (h keys) oneRow(c echo.Context, view string, k apiclient.APIKey) views.KeyRow {
	links := h.rowLinks(view)
	row := links.row(k, currentUser(c).Identity, h.now())
	links.withLineage(&row, h.lineage(c.Request().Context(), []int64{k.ID})[k.ID])
	return row
}

// withLineage adds to a row the keys it replaced and was replaced by.
func (l rowLinks) withLineage(row *views.KeyRow, link audit.Link) {
	if link.Replaces != 0 {
		row.Replaces, row.ReplacesURL = link.Replaces, l.keyPage(link.Replaces)
	}
	if link.ReplacedBy != 0 {
		row.ReplacedBy, row.ReplacedByURL = link.ReplacedBy, l.keyPage(link.ReplacedBy)
	}
}

// keyEvents fills a key page's history. A reader who can see the key, or
// an audit admin, sees all of its events; others, of a key they cannot see
// (any more), only their own actions, as on the audit page.
func (h keys) keyEvents(ctx context.Context, m *views.KeyPage, id int64, visible bool, me apiclient.Identity, links rowLinks) {
	m.AuditURL = h.url(routeAudit) + "?" + url.Values{"key": {strconv.FormatInt(id, 10)}}.Encode()
	read, cancel := context.WithTimeout(ctx, keyTrailTimeout)
	defer cancel()
	entries, err := h.history.History(read, id, historyLimit)
	if err != nil {
		logAuditReadFailure(ctx, h.log, "audit trail: reading a key's history", err, slog.Int64("key", id))
		m.HistoryAlert = auditUnavailable
		return
	}
	now := h.now()
	for _, e := range entries {
		if !visible && (me.ActorID == 0 || e.ActorID != me.ActorID) {
			continue
		}
		m.History = append(m.History, historyEntry(e, id, me, now, links))
	}
	switch {
	case len(m.History) == 0 && visible:
		m.HistoryNote = "No change to this key has been made through this portal."
	case len(m.History) == 0:
		m.HistoryNote = "You have made no change to this key through this portal."
	case len(entries) == historyLimit:
		m.HistoryNote = "The " + strconv.Itoa(historyLimit) + " newest changes."
	}
}

// revokedBy is the revocation among a gone key's events, if it is there.
func revokedBy(events []views.HistoryEntry) (views.HistoryEntry, bool) {
	for _, e := range events {
		if e.Action == actionWords("revoke") && e.Outcome == string(apikeys.Done) {
			return e, true
		}
	}
	return views.HistoryEntry{}, false
}

// historyEntry is one event as the page of key id shows it.
func historyEntry(e audit.Entry, id int64, me apiclient.Identity, now time.Time, links rowLinks) views.HistoryEntry {
	v := views.HistoryEntry{When: when(e.At, now), Who: e.Username, Action: actionWords(e.Action), Bulk: e.Bulk, Outcome: e.Outcome}
	if v.Who == "" {
		v.Who = "user " + strconv.FormatInt(e.ActorID, 10)
	}
	if me.ActorID != 0 && e.ActorID == me.ActorID {
		v.Who += " (you)"
	}
	field := func(f string) string { return f }
	if e.Action == "rotate_create" {
		switch {
		case e.KeyID == id && e.NewKey != 0:
			v.Action, v.Link, v.LinkText = "Rotated: replaced by a new key", links.keyPage(e.NewKey), "The replacement: #"+strconv.FormatInt(e.NewKey, 10)
			field = func(f string) string { return "replacement's " + f }
		case e.KeyID != id:
			v.Action = "Created by rotating another key"
			if e.KeyID != 0 {
				v.Link, v.LinkText = links.keyPage(e.KeyID), "The key it replaces: #"+strconv.FormatInt(e.KeyID, 10)
			}
		}
	}
	for _, ch := range e.Changes {
		line := views.ChangeLine{Field: field(ch.Field)}
		if ch.Old != nil {
			line.Old = changeValue(ch.Field, *ch.Old)
		}
		if ch.New != nil {
			line.New = changeValue(ch.Field, *ch.New)
		}
		v.Changes = append(v.Changes, line)
	}
	switch apikeys.Outcome(e.Outcome) {
	case apikeys.Done:
		v.OutcomeText = "Done."
		if e.Verified {
			v.OutcomeText = "Done (balena's answer was lost; the portal checked with balena)."
		}
	case apikeys.NotDone:
		v.OutcomeText = because("Not done", e.Reason)
	default:
		v.OutcomeText = because("Outcome unknown", e.Reason)
	}
	return v
}

// changeValue writes a recorded value for people: an expiry as the page
// writes times, an empty name or description as "(none)".
func changeValue(field, value string) string {
	if value == "" {
		return "(none)"
	}
	if field == "expiry" {
		if t, err := time.Parse(time.RFC3339, value); err == nil {
			return views.ExactTime(t)
		}
	}
	return value
}

// because is what happened, and why when that is known.
func because(what, why string) string {
	if why == "" {
		return what + "."
	}
	return what + ": " + why
}
