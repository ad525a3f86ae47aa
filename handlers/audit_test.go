package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/audit"
	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/internal/pgtest"
	"github.com/keyportal/keyportal/views"
)

const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>`

// createAndRevoke makes a user key through the portal and revokes it; it
// returns the key's id.
func createAndRevoke(t *testing.T, env *portaltest.Env, b *browser, name, description string) int64 {
	t.Helper()
	p := b.submit(b.get("/keys/new"), "form.keyform", map[string]string{"kind": "user", "name": name, "description": description, "expiry": "never"})
	rec, ok := record(t, env, name)
	if !ok {
		t.Fatalf("the key %q was not made: %d %q", name, p.status, p.doc.Find(".flash").Text())
	}
	id := strconv.FormatInt(rec.ID, 10)
	if gone := b.post("/keys/"+id+"/revoke", formWithCSRF(p)); !strings.Contains(gone.doc.Find(".flash-success").Text(), "Revoked") {
		t.Fatalf("revoke: %d %q", gone.status, gone.doc.Find(".flash").Text())
	}
	return rec.ID
}

// The audit page writes an expiry as every page writes times, not as the
// stored RFC 3339; the CSV export keeps the stored form for scripts.
func TestAuditPageWritesExpiriesAsPagesDo(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	p := b.submit(b.get("/keys/new"), "form.keyform", map[string]string{"kind": "user", "name": "expires in a month", "expiry": "30d"})
	rec, ok := record(t, env, "expires in a month")
	if !ok || rec.ExpiryDate == nil {
		t.Fatalf("the key was not made with an expiry: %d %q", p.status, p.doc.Find(".flash").Text())
	}
	want := "expiry: " + views.ExactTime(*rec.ExpiryDate)
	if got := b.get("/audit").doc.Find("table.audit tbody tr td.changes").Text(); !strings.Contains(got, want) {
		t.Errorf("the create's changes: %q, want %q in them", got, want)
	}
	if csv := b.get("/audit/export?format=csv").body; !strings.Contains(csv, rec.ExpiryDate.UTC().Format(time.RFC3339)) {
		t.Errorf("the CSV export lost the stored expiry %s:\n%s", rec.ExpiryDate.UTC().Format(time.RFC3339), csv)
	}
}

func TestAuditPageShowsChangesNewestFirstAsText(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	id := createAndRevoke(t, env, b, "ci "+hostile[:20], hostile)

	p := b.get("/audit")
	if p.status != http.StatusOK {
		t.Fatalf("/audit: %d\n%s", p.status, p.body)
	}
	rows := p.doc.Find("table.audit tbody tr")
	if rows.Length() != 2 {
		t.Fatalf("%d events, want the create and the revoke", rows.Length())
	}
	first, second := rows.Eq(0), rows.Eq(1)
	if got := first.Find("td.action").Text(); !strings.Contains(got, "Revoked") {
		t.Errorf("newest event: %q, want the revoke", got)
	}
	if got := second.Find("td.action").Text(); !strings.Contains(got, "Created") {
		t.Errorf("oldest event: %q, want the create", got)
	}
	key := "#" + strconv.FormatInt(id, 10)
	if !strings.Contains(first.Find("td.event-key").Text(), key) || first.Find("td.who").Text() != "admin" {
		t.Errorf("revoke row: key %q, who %q", first.Find("td.event-key").Text(), first.Find("td.who").Text())
	}
	// Each event's key is a link to its page; this one's says it was
	// revoked, and shows its history.
	for i, row := range []string{"revoke", "create"} {
		a := rows.Eq(i).Find("td.event-key a")
		if a.Text() != key || a.AttrOr("href", "") != "/keys/"+strconv.FormatInt(id, 10) {
			t.Errorf("%s event: key link %q to %q, want %q to its page", row, a.Text(), a.AttrOr("href", ""), key)
		}
	}
	gone := b.get(first.Find("td.event-key a").AttrOr("href", ""))
	if gone.status != http.StatusNotFound || !strings.Contains(gone.doc.Find("main").Text(), "Key "+key+" was revoked by admin") ||
		gone.doc.Find("ol.history > li").Length() != 2 {
		t.Errorf("the revoked key's page: %d %q, %d events in its history", gone.status, gone.doc.Find("main .card p").First().Text(), gone.doc.Find("ol.history > li").Length())
	}
	// Hostile text is shown as text: no element came out of it.
	if p.doc.Find("main script, main img[onerror]").Length() != 0 || !strings.Contains(second.Find("td.changes").Text(), hostile) {
		t.Errorf("hostile description rendered as markup, or not shown: %q", second.Find("td.changes").Text())
	}
	if !strings.Contains(p.doc.Find("#audit-scope").Text(), "keys you can see now, and your own actions") {
		t.Errorf("the page does not say what it shows: %q", p.doc.Find("#audit-scope").Text())
	}
	if p.doc.Find(`header nav a[aria-current=page]`).Text() != "Audit" {
		t.Error("the header does not mark Audit as the page shown")
	}

	// Filters in the URL, the total, and the export of the same view.
	one := b.get("/audit?action=revoke&key=" + strconv.FormatInt(id, 10))
	if one.doc.Find("table.audit tbody tr").Length() != 1 || !strings.Contains(one.doc.Find(".count").Text(), "1–1 of 1 events") {
		t.Errorf("filtered: %q", one.doc.Find(".count").Text())
	}
	csvURL, _ := one.doc.Find(".export a").First().Attr("href")
	csv := b.get(csvURL)
	lines := strings.Split(strings.TrimSpace(csv.body), "\n")
	if csv.status != 200 || len(lines) != 2 || !strings.Contains(lines[1], ",revoke,") {
		t.Errorf("CSV export: %d %q", csv.status, csv.body)
	}
	js := b.get("/audit/export?format=json")
	var events []struct {
		Action  string `json:"action"`
		KeyID   int64  `json:"key_id"`
		Outcome string `json:"outcome"`
	}
	if err := json.Unmarshal([]byte(js.body), &events); err != nil || len(events) != 2 || events[0].Action != "revoke" || events[1].KeyID != id {
		t.Errorf("JSON export: %v %+v", err, events)
	}

	// htmx gets the results and the field messages only.
	frag := b.get("/audit?outcome=ok", "HX-Request", "true")
	if frag.status != 200 || strings.Contains(frag.body, "<html") || frag.doc.Find("table.audit tbody tr").Length() != 2 {
		t.Errorf("htmx: %d\n%s", frag.status, frag.body)
	}
}

func TestAuditFiltersRejectBadValuesAtTheirField(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	p := b.get("/audit?actor=%3Cb%3E&action=nope&key=abc&kind=robot&fleet=%20x%20y&outcome=maybe&after=2025-13-01&before=x&page=0")
	if p.status != http.StatusBadRequest {
		t.Errorf("bad filters: %d, want 400", p.status)
	}
	for _, field := range []string{"actor", "action", "key", "kind", "fleet", "outcome", "after", "before", "page"} {
		if p.doc.Find("#fe-"+field+" .field-error").Length() != 1 {
			t.Errorf("no message at %s", field)
		}
	}
	if p.doc.Find("#a-key").AttrOr("value", "") != "abc" {
		t.Error("the bad key id is not shown back")
	}
	backwards := b.get("/audit?after=2025-02-01&before=2025-01-01")
	if backwards.status != http.StatusBadRequest || backwards.doc.Find("#fe-before .field-error").Length() != 1 {
		t.Errorf("a range ending before it starts: %d", backwards.status)
	}
	if e := b.get("/audit/export?format=xml"); e.status != http.StatusBadRequest {
		t.Errorf("bad export format: %d", e.status)
	}
}

func TestAuditShowsOthersOnlyTheEventsOfKeysTheyCanSee(t *testing.T) {
	env, admin := signedIn(t, portaltest.Options{})
	createAndRevoke(t, env, admin, "admins own key", "")

	bob := newBrowser(t, env)
	if p := bob.signIn(balenasim.DemoOtherEmail, balenasim.DemoPassword); p.status != 200 {
		t.Fatalf("bob's sign-in: %d", p.status)
	}
	if p := bob.get("/audit"); p.doc.Find("table.audit tbody tr").Length() != 0 || strings.Contains(p.body, "admins own key") {
		t.Errorf("bob sees the admin's events:\n%s", p.doc.Find("#results").Text())
	}
	createAndRevoke(t, env, bob, "bobs key", "")
	if p := bob.get("/audit"); p.doc.Find("table.audit tbody tr").Length() != 2 {
		t.Errorf("bob sees %d events, want his own two", p.doc.Find("table.audit tbody tr").Length())
	}
	if p := bob.get("/audit/export?format=json"); strings.Contains(p.body, "admins own key") {
		t.Error("bob's export holds the admin's events")
	}

	// An audit administrator, named by username or user id, sees all.
	for _, admins := range []string{"ADMIN", "1"} {
		t.Run(admins, func(t *testing.T) {
			env2 := portaltest.Start(t, portaltest.Options{ReplicaOf: env, Config: func(c *config.Config) { c.AuditAdmins = []string{admins} }})
			b := newBrowser(t, env2)
			b.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
			p := b.get("/audit")
			if p.doc.Find("table.audit tbody tr").Length() != 4 || !strings.Contains(p.doc.Find("#audit-scope").Text(), "every event") {
				t.Errorf("audit admin by %q sees %d events: %q", admins, p.doc.Find("table.audit tbody tr").Length(), p.doc.Find("#audit-scope").Text())
			}
		})
	}
}

// The database going away during a revoke costs the audit row, not the
// revoke: the key is revoked, the page says so, the event is in the log,
// and /readyz is not ready until the database is back.
func TestRevokeWithTheDatabaseDownStillRevokes(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.Database(t)
	env, b := signedIn(t, portaltest.Options{Config: func(c *config.Config) { c.DatabaseURL = url }})
	p := b.submit(b.get("/keys/new"), "form.keyform", map[string]string{"kind": "user", "name": "revoked while down", "expiry": "never"})
	rec, _ := record(t, env, "revoked while down")
	if r := b.get("/readyz"); r.status != http.StatusOK {
		t.Fatalf("/readyz before: %d %q", r.status, r.body)
	}

	pg.Stop()
	id := strconv.FormatInt(rec.ID, 10)
	gone := b.post("/keys/"+id+"/revoke", formWithCSRF(p))
	if !strings.Contains(gone.doc.Find(".flash-success").Text(), "Revoked “revoked while down”") {
		t.Errorf("revoke with the database down: %d %q", gone.status, gone.doc.Find(".flash").Text())
	}
	if _, still := record(t, env, "revoked while down"); still {
		t.Error("the key was not revoked")
	}
	if !env.Logs.Contains("audit event not stored in the database") || !env.Logs.Contains("key="+id) {
		t.Errorf("the log does not keep the event:\n%s", env.Logs.String())
	}
	if r := b.get("/readyz"); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "audit database") {
		t.Errorf("/readyz with the database down: %d %q", r.status, r.body)
	}
	if a := b.get("/audit"); a.status != http.StatusServiceUnavailable || !strings.Contains(a.doc.Find(".flash-error").Text(), "The audit trail is not available right now") {
		t.Errorf("/audit with the database down: %d %q", a.status, a.doc.Find(".flash").Text())
	}

	pg.Restart(t)
	if r := b.get("/readyz"); r.status != http.StatusOK {
		t.Errorf("/readyz once the database is back: %d %q", r.status, r.body)
	}
	if a := b.get("/audit"); a.status != http.StatusOK || a.doc.Find("table.audit tbody tr").Length() != 1 {
		t.Errorf("/audit once the database is back: %d, %d events (the create)", a.status, a.doc.Find("table.audit tbody tr").Length())
	}
}

// A PostgreSQL that is down when the portal starts (a database being
// upgraded or failed over) does not keep the portal from serving keys:
// changes work and their events go to the log and the audit file, /readyz
// names the database, the audit page and the key's history say the trail
// is not available; once the server is back the portal uses it, with no
// restart.
func TestPortalStartsWithTheDatabaseDownAndUsesItOnceBack(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.Database(t)
	pg.Stop()
	file := t.TempDir() + "/audit.jsonl"
	env, b := signedIn(t, portaltest.Options{Config: func(c *config.Config) { c.DatabaseURL, c.AuditFile = url, file }})
	before := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, "revoked while down", nil)
	after := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, "revoked once back", nil)

	keys := b.get("/keys?q=revoked")
	if keys.status != http.StatusOK || keys.doc.Find("tbody tr").Length() != 2 {
		t.Fatalf("keys view with the database down: %d, %d rows", keys.status, keys.doc.Find("tbody tr").Length())
	}
	id := strconv.FormatInt(before.ID, 10)
	if gone := b.post(keyURL(before)+"/revoke", formWithCSRF(keys)); !strings.Contains(gone.doc.Find(".flash-success").Text(), "Revoked “revoked while down”") {
		t.Errorf("revoke with the database down: %d %q", gone.status, gone.doc.Find(".flash").Text())
	}
	if _, still := record(t, env, "revoked while down"); still {
		t.Error("the key was not revoked")
	}
	if !env.Logs.Contains("audit event not stored in the database") || !env.Logs.Contains("key="+id) {
		t.Errorf("the log does not keep the event:\n%s", env.Logs.String())
	}
	if evs := auditEvents(t, file, "revoke"); len(evs) != 1 || evs[0]["key"] != float64(before.ID) {
		t.Errorf("the audit file's revocations: %v", evs)
	}
	if r := b.get("/readyz"); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "audit database") {
		t.Errorf("/readyz with the database down: %d %q", r.status, r.body)
	}
	if a := b.get("/audit"); a.status != http.StatusServiceUnavailable ||
		!strings.HasPrefix(a.doc.Find(".flash-error").Text(), "The audit trail is not available right now") {
		t.Errorf("/audit with the database down: %d %q", a.status, a.doc.Find(".flash").Text())
	}
	if e := b.get("/audit/export?format=csv"); e.status != http.StatusServiceUnavailable || !strings.Contains(e.body, "The audit trail is not available right now") {
		t.Errorf("an export with the database down: %d %q", e.status, e.body)
	}
	if p := b.get(keyURL(after)); p.status != http.StatusOK ||
		!strings.HasPrefix(p.doc.Find("section[aria-labelledby=key-history] .flash-warning").Text(), "The audit trail is not available right now") {
		t.Errorf("the key's page with the database down: %d %q", p.status, p.doc.Find("section[aria-labelledby=key-history]").Text())
	}
	// Said once, however many times the portal tried and pages read.
	if n := strings.Count(env.Logs.String(), "audit database unavailable: the portal serves keys"); n != 1 {
		t.Errorf("the database being down is logged %d times, want once:\n%s", n, env.Logs.String())
	}

	pg.Restart(t)
	if r := b.get("/readyz"); r.status != http.StatusOK {
		t.Fatalf("/readyz once the database is back: %d %q\n%s", r.status, r.body, env.Logs.String())
	}
	if gone := b.post(keyURL(after)+"/revoke", formWithCSRF(keys)); !strings.Contains(gone.doc.Find(".flash-success").Text(), "Revoked “revoked once back”") {
		t.Errorf("revoke once the database is back: %d %q", gone.status, gone.doc.Find(".flash").Text())
	}
	a := b.get("/audit")
	rows := a.doc.Find("table.audit tbody tr")
	if a.status != http.StatusOK || rows.Length() != 1 || rows.Find("td.event-key a").Text() != "#"+strconv.FormatInt(after.ID, 10) ||
		!strings.Contains(rows.Find("td.action").Text(), "Revoked") {
		t.Errorf("/audit once the database is back: %d, %d events %q; want the second revocation", a.status, rows.Length(), rows.Text())
	}
}

// A setting no retry would mend still stops the start, naming the
// variable (and not the URL's password).
func TestAuditDatabaseSettingErrorsStopTheStart(t *testing.T) {
	_, err := portaltest.New(portaltest.Options{Config: func(c *config.Config) {
		c.DatabaseURL = "postgres://keyportal:s3cret@db/keyportal?sslmode=sometimes"
	}})
	if err == nil || !strings.Contains(err.Error(), "KEYPORTAL_DATABASE_URL") || !strings.Contains(err.Error(), "sslmode") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a URL PostgreSQL cannot read: %v", err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "audit.db"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err = portaltest.New(portaltest.Options{Config: func(c *config.Config) { c.DataDir = dir }})
	if err == nil || !strings.Contains(err.Error(), "KEYPORTAL_DATA_DIR") {
		t.Errorf("an SQLite file that cannot be opened: %v", err)
	}
}

// Two replicas on one PostgreSQL: a change made through one is on the
// other's audit page.
func TestTwoReplicasShareTheAuditTrailInPostgreSQL(t *testing.T) {
	pg := pgtest.Start(t)
	url := pg.Database(t)
	withDB := func(c *config.Config) { c.DatabaseURL = url }
	envA, a := signedIn(t, portaltest.Options{Config: withDB})
	envB := portaltest.Start(t, portaltest.Options{ReplicaOf: envA, Config: withDB})
	createAndRevoke(t, envA, a, "made on replica a", "")
	b := newBrowser(t, envB)
	b.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	if p := b.get("/audit"); p.doc.Find("table.audit tbody tr").Length() != 2 || !strings.Contains(p.body, "made on replica a") {
		t.Errorf("replica b sees %d events", p.doc.Find("table.audit tbody tr").Length())
	}
}

// Events older than KEYPORTAL_AUDIT_RETENTION are deleted when the portal
// starts (and daily after).
func TestOldEventsArePrunedAtStart(t *testing.T) {
	clock := portaltest.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	env, b := signedIn(t, portaltest.Options{Clock: clock})
	createAndRevoke(t, env, b, "old news", "")
	clock.Advance(31 * 24 * time.Hour)
	b.signIn(balenasim.DemoEmail, balenasim.DemoPassword) // the session has long ended
	createAndRevoke(t, env, b, "recent news", "")

	clock.Advance(24 * time.Hour)
	later := portaltest.Start(t, portaltest.Options{ReplicaOf: env, Clock: clock, Config: func(c *config.Config) {
		c.AuditRetention, c.AuditAdmins = 30*24*time.Hour, []string{"admin"}
	}})
	b2 := newBrowser(t, later)
	b2.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	p := b2.get("/audit")
	if n := p.doc.Find("table.audit tbody tr").Length(); n != 2 || strings.Contains(p.body, "old news") || !strings.Contains(p.body, "recent news") {
		t.Errorf("after a restart with 30 days' retention: %d events\n%s", n, p.doc.Find("#results").Text())
	}
	if !later.Logs.Contains("pruned old events") {
		t.Error("the pruning is not in the log")
	}
}

// Paging and filtering the audit page within half a minute ask balena for
// the ids of the visible keys once.
func TestAuditViewsReuseTheVisibleKeysForHalfAMinute(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	env, b := signedIn(t, portaltest.Options{Clock: clock})
	idCalls := func() int {
		n := 0
		for _, sp := range env.Sim.Counters().Spans {
			if sp.Route == "GET /v7/api_key" && sp.Query.Get("$select") == "id" {
				n++
			}
		}
		return n
	}
	env.Sim.ResetCounters()
	b.get("/audit")
	b.get("/audit?action=revoke")
	if n := idCalls(); n != 1 {
		t.Errorf("two views asked balena for the visible keys %d times, want once", n)
	}
	clock.Advance(31 * time.Second)
	b.get("/audit")
	if n := idCalls(); n != 2 {
		t.Errorf("after half a minute: %d calls, want a fresh one", n)
	}
}

// An export longer than one read of the database holds every event of the
// view once, newest first, on either database (it reads on from the last
// event it wrote; 2,500 events are three reads).
func TestAuditExportOfManyEventsHoldsEachOnce(t *testing.T) {
	for name, db := range map[string]func(t *testing.T) string{
		"SQLite":     func(t *testing.T) string { return "" },
		"PostgreSQL": func(t *testing.T) string { return pgtest.Start(t).Database(t) },
	} {
		t.Run(name, func(t *testing.T) {
			url := db(t)
			env, b := signedIn(t, portaltest.Options{Config: func(c *config.Config) { c.DatabaseURL = url }})
			createAndRevoke(t, env, b, "first key", "")
			var mine []struct {
				ActorID   int64  `json:"actor_id"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(b.get("/audit/export?format=json").body), &mine); err != nil || len(mine) != 2 {
				t.Fatalf("export before: %v, %d events", err, len(mine))
			}
			// The user's own actions on keys they cannot see, and others'
			// on such keys, which the export must leave out.
			st, err := audit.Open(context.Background(), audit.Options{URL: url, Dir: env.Config.DataDir})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for i := range 2500 {
				st.Record(context.Background(), apikeys.Event{Action: "revoke", ActorID: mine[0].ActorID, Username: "admin",
					Key: apiclient.APIKey{ID: 900_000 + int64(i)}, Outcome: apikeys.Done, Ref: "own-" + strconv.Itoa(i)})
				if i%10 == 0 {
					st.Record(context.Background(), apikeys.Event{Action: "revoke", ActorID: mine[0].ActorID + 1, Username: "someone",
						Key: apiclient.APIKey{ID: 800_000 + int64(i)}, Outcome: apikeys.Done, Ref: "other-" + strconv.Itoa(i)})
				}
			}
			var all []struct {
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(b.get("/audit/export?format=json").body), &all); err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := 2499; i >= 0; i-- {
				want = append(want, "own-"+strconv.Itoa(i))
			}
			want = append(want, mine[0].RequestID, mine[1].RequestID)
			var got []string
			for _, e := range all {
				got = append(got, e.RequestID)
			}
			if !slices.Equal(got, want) {
				t.Errorf("export of %d events, want %d: starts %v, ends %v", len(got), len(want), got[:min(3, len(got))], got[max(0, len(got)-3):])
			}
		})
	}
}
