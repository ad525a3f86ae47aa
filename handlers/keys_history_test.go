package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/internal/pgtest"
)

// historyOf reads a key page's history, newest first: each event's action
// and actor, its changes, and its outcome, as one line.
func historyOf(p page) []string {
	var lines []string
	p.doc.Find("ol.history > li").Each(func(_ int, li *goquery.Selection) {
		head := strings.Join(strings.Fields(li.Find(".event-head").Text()), " ")
		head = head[:strings.LastIndex(head, ",")] // the time varies
		var changes []string
		li.Find("ul.changes li").Each(func(_ int, ch *goquery.Selection) {
			changes = append(changes, strings.Join(strings.Fields(ch.Text()), " "))
		})
		lines = append(lines, head+" | "+strings.Join(changes, "; ")+" | "+strings.TrimSpace(li.Find(".outcome").Text()))
	})
	return lines
}

// lineageOf is what a key's row says of its rotation, with its links.
func lineageOf(p page, id int64) string {
	var out []string
	p.doc.Find(`tr[data-key-id="` + strconv.FormatInt(id, 10) + `"] td.name .lineage`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, strings.TrimSpace(s.Text())+" → "+s.Find("a").AttrOr("href", ""))
	})
	return strings.Join(out, "; ")
}

// A rotation records which key replaced which: the old key's page and row
// say "replaced by #new", the new key's "replaces #old", each a link to
// the other's page. On SQLite and on PostgreSQL.
func TestRotationLineageOnPagesAndRows(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { checkRotationLineage(t, portaltest.Options{}) })
	t.Run("postgres", func(t *testing.T) {
		pg := pgtest.Start(t)
		checkRotationLineage(t, portaltest.Options{Config: func(c *config.Config) { c.DatabaseURL = pg.Database(t) }})
	})
}

func checkRotationLineage(t *testing.T, opts portaltest.Options) {
	env, b := signedIn(t, opts)
	later := time.Now().AddDate(0, 2, 0)
	old := seedKey(t, env, balenasim.KindProvisioning, "acme/plant-3", "lineage-of-a-rotation", &later)
	form := b.get(keyURL(old) + "/rotate?return=" + url.QueryEscape(keyURL(old)))
	if p := b.submit(form, "form.keyform", map[string]string{"grace": "1d", "expiry": "30d"}); p.status != http.StatusCreated {
		t.Fatalf("rotate: %d %q", p.status, flashText(p))
	}
	fresh, ok := replacement(env, old)
	if !ok {
		t.Fatal("no replacement at balena")
	}
	oldID, newID := strconv.FormatInt(old.ID, 10), strconv.FormatInt(fresh.ID, 10)

	view := "/keys?q=lineage-of-a-rotation"
	rows := b.get(view)
	back := "?return=" + url.QueryEscape(view)
	if got, want := lineageOf(rows, old.ID), "replaced by #"+newID+" → /keys/"+newID+back; got != want {
		t.Errorf("old key's row: %q, want %q", got, want)
	}
	if got, want := lineageOf(rows, fresh.ID), "replaces #"+oldID+" → /keys/"+oldID+back; got != want {
		t.Errorf("new key's row: %q, want %q", got, want)
	}

	oldPage, newPage := b.get(keyURL(old)), b.get(keyURL(fresh))
	if got := facts(oldPage)["Replaced by"]; got != "#"+newID {
		t.Errorf("old key's page: replaced by %q", got)
	}
	if href := oldPage.doc.Find("dl.facts .lineage a").AttrOr("href", ""); href != "/keys/"+newID {
		t.Errorf("old key's page links to %q", href)
	}
	if got := facts(newPage)["Replaces"]; got != "#"+oldID {
		t.Errorf("new key's page: replaces %q", got)
	}
	if href := newPage.doc.Find("dl.facts .lineage a").AttrOr("href", ""); href != "/keys/"+oldID {
		t.Errorf("new key's page links to %q", href)
	}
	// Each page's history names the rotation, with a link to the other key.
	if h := historyOf(oldPage); len(h) != 2 || !strings.HasPrefix(h[0], "Rotated: old key set to expire by admin (you) | expiry:") ||
		!strings.HasPrefix(h[1], "Rotated: replaced by a new key by admin (you) | replacement's expiry:") {
		t.Errorf("old key's history:\n%s", strings.Join(h, "\n"))
	}
	if link := oldPage.doc.Find("ol.history a").AttrOr("href", ""); link != "/keys/"+newID {
		t.Errorf("old key's history links to %q", link)
	}
	if h := historyOf(newPage); len(h) != 1 || !strings.HasPrefix(h[0], "Created by rotating another key by admin (you) | expiry:") {
		t.Errorf("new key's history:\n%s", strings.Join(h, "\n"))
	}
	if link := newPage.doc.Find("ol.history a").AttrOr("href", ""); link != "/keys/"+oldID {
		t.Errorf("new key's history links to %q", link)
	}
	if a := oldPage.doc.Find("a:contains('This key in the audit trail')").AttrOr("href", ""); a != "/audit?key="+oldID {
		t.Errorf("old key's page links to the audit trail at %q", a)
	}
	// The audit trail's rotation links the old key and its replacement.
	audit := b.get("/audit?key=" + oldID + "&action=rotate_create")
	if a := audit.doc.Find("td.event-key > a"); a.Text() != "#"+oldID || a.AttrOr("href", "") != "/keys/"+oldID {
		t.Errorf("the rotation in the audit trail links %q to %q", a.Text(), a.AttrOr("href", ""))
	}
	if a := audit.doc.Find("td.event-key .muted a"); a.Text() != "#"+newID || a.AttrOr("href", "") != "/keys/"+newID {
		t.Errorf("the rotation in the audit trail: replaced by %q, linked to %q", a.Text(), a.AttrOr("href", ""))
	}
	// A change made in the row (htmx) keeps the lineage in the new row.
	saved := b.post(keyURL(fresh)+"/edit", url.Values{"name": {"lineage-of-a-rotation"}, "description": {"after"}, "expiry": {"keep"}, "return": {view}},
		"HX-Request", "true", "X-CSRF-Token", csrfOf(b, env))
	if !strings.Contains(saved.body, `<span class="lineage">replaces <a href="/keys/`+oldID+back+`">#`+oldID+`</a></span>`) {
		t.Errorf("the row after an edit in place:\n%s", saved.body)
	}
}

// A key's history lists the changes made to it through the portal, newest
// first, with who made them, the values before and after, and the outcome;
// values are text, whatever they hold. Once revoked, its page says by whom.
func TestKeyHistoryListsTheActionsTaken(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	later := time.Now().AddDate(0, 2, 0)
	k := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, "history-of-a-key", &later)
	page := keyURL(k)
	hostile := `<img src=x onerror="alert('h')"> & co`

	edit := b.get(page + "/edit?return=" + url.QueryEscape(page))
	b.submit(edit, "form.keyform", map[string]string{"name": hostile, "description": "</li><script>alert(1)</script>"})
	b.submit(b.get(page+"/expire?return="+url.QueryEscape(page)), "form.actions", nil)
	b.submit(b.get(page+"/expiry?return="+url.QueryEscape(page)), "form.actions", nil)
	p := b.get(page)
	if p.doc.Find(`ol.history img, ol.history script`).Length() != 0 {
		t.Error("markup from key text got into the history")
	}
	h := historyOf(p)
	want := []string{
		"Cleared expiry by admin (you) | expiry: ",
		"Expired now by admin (you) | expiry: " + k.ExpiryDate.UTC().Format("2006-01-02 15:04:05 UTC") + " → ",
		"Edited by admin (you) | name: history-of-a-key → " + hostile + "; description: (none) → </li><script>alert(1)</script> | Done.",
	}
	if len(h) != 3 || !strings.HasPrefix(h[0], want[0]) || !strings.HasSuffix(h[0], "→ never | Done.") ||
		!strings.HasPrefix(h[1], want[1]) || h[2] != want[2] {
		t.Errorf("history:\n%s\nwant\n%s", strings.Join(h, "\n"), strings.Join(want, "\n"))
	}

	b.submit(b.get(page+"/revoke?return="+url.QueryEscape(page)), "form.actions", nil)
	gone := b.get(page)
	text := strings.Join(strings.Fields(gone.doc.Find("main").Text()), " ")
	if gone.status != http.StatusNotFound || !strings.Contains(text, "was revoked by admin (you) on ") || !strings.Contains(text, "it no longer exists") {
		t.Errorf("revoked key's page: %d %q", gone.status, text)
	}
	if h := historyOf(gone); len(h) != 4 || h[0] != "Revoked by admin (you) |  | Done." {
		t.Errorf("revoked key's history:\n%s", strings.Join(h, "\n"))
	}

	// Someone else, who never saw the key, sees none of its history;
	// unless they are an audit admin (on a replica that says so).
	bob := newBrowser(t, env)
	bob.signIn(balenasim.DemoOtherEmail, balenasim.DemoPassword)
	other := bob.get(page)
	if other.status != http.StatusNotFound || len(historyOf(other)) != 0 || strings.Contains(other.body, "admin") {
		t.Errorf("another account's view of a revoked key: %d %q", other.status, historyOf(other))
	}
	admins := portaltest.Start(t, portaltest.Options{ReplicaOf: env, Config: func(c *config.Config) { c.AuditAdmins = []string{"bob"} }})
	bob = newBrowser(t, admins)
	bob.signIn(balenasim.DemoOtherEmail, balenasim.DemoPassword)
	if h := historyOf(bob.get(page)); len(h) != 4 || h[0] != "Revoked by admin |  | Done." {
		t.Errorf("an audit admin's view of a revoked key's history:\n%s", strings.Join(h, "\n"))
	}
}

// With the audit database down, the keys view and the key's page still
// work, without lineage, and the page says why its history is missing.
func TestKeyPagesWithTheAuditDatabaseDown(t *testing.T) {
	pg := pgtest.Start(t)
	env, b := signedIn(t, portaltest.Options{Config: func(c *config.Config) { c.DatabaseURL = pg.Database(t) }})
	k := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, "while-the-database-is-down", nil)
	pg.Stop()
	if p := b.get("/keys?q=while-the-database-is-down"); p.status != http.StatusOK || p.doc.Find("tbody tr").Length() != 1 {
		t.Errorf("keys view: %d, %d rows", p.status, p.doc.Find("tbody tr").Length())
	}
	p := b.get(keyURL(k))
	if note := strings.TrimSpace(p.doc.Find("section[aria-labelledby=key-history] .flash-warning").Text()); p.status != http.StatusOK ||
		!strings.HasPrefix(note, "The audit trail is not available right now: the portal cannot reach its audit database.") {
		t.Errorf("key page: %d %q", p.status, note)
	}
}
