package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

// record finds the stand-in's row for the key named name.
func record(t *testing.T, env *portaltest.Env, name string) (balenasim.KeyRecord, bool) {
	t.Helper()
	for _, k := range env.Sim.Keys() {
		if k.Name != nil && *k.Name == name {
			return k, true
		}
	}
	return balenasim.KeyRecord{}, false
}

// someKey is a demo key of the given kind that the admin can see.
func someKey(t *testing.T, env *portaltest.Env, b *browser, kind string) balenasim.KeyRecord {
	t.Helper()
	p := b.get("/keys?kind=" + kind)
	id, ok := p.doc.Find("table.keys tbody tr").First().Attr("data-key-id")
	if !ok {
		t.Fatalf("no %s key listed", kind)
	}
	for _, k := range env.Sim.Keys() {
		if strconv.FormatInt(k.ID, 10) == id {
			return k
		}
	}
	t.Fatalf("key %s not in the stand-in", id)
	return balenasim.KeyRecord{}
}

func TestCreateEachKindShowsTheSecretOnce(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	fleet := someKey(t, env, b, "provisioning").FleetSlug
	device := someKey(t, env, b, "device").DeviceUUID
	cases := []struct {
		kind  string
		extra map[string]string
		owner func(balenasim.KeyRecord) string
	}{
		{"user", nil, func(k balenasim.KeyRecord) string { return k.OwnerEmail }},
		{"provisioning", map[string]string{"fleet": fleet}, func(k balenasim.KeyRecord) string { return k.FleetSlug }},
		{"device", map[string]string{"device": device}, func(k balenasim.KeyRecord) string { return k.DeviceUUID }},
	}
	for _, c := range cases {
		name := "made-by-test-" + c.kind
		fields := map[string]string{"kind": c.kind, "name": name, "description": "for " + c.kind, "expiry": "7d"}
		for k, v := range c.extra {
			fields[k] = v
		}
		p := b.submit(b.get("/keys/new"), "form.keyform", fields)
		if p.status != http.StatusCreated {
			t.Fatalf("%s: status %d\n%s", c.kind, p.status, p.body)
		}
		if p.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", c.kind, p.header.Get("Cache-Control"))
		}
		rec, ok := record(t, env, name)
		if !ok {
			t.Fatalf("%s: the stand-in has no key %q", c.kind, name)
		}
		secret, _ := p.doc.Find("#secret").Attr("value")
		if secret == "" || secret != rec.Secret {
			t.Errorf("%s: page shows %q, balena made %q", c.kind, secret, rec.Secret)
		}
		if string(rec.Kind) != c.kind || (c.kind != "user" && c.owner(rec) != fields["fleet"]+fields["device"]) {
			t.Errorf("%s: made a %s key for %q", c.kind, rec.Kind, c.owner(rec))
		}
		if rec.ExpiryDate == nil || time.Until(*rec.ExpiryDate) < 6*24*time.Hour || time.Until(*rec.ExpiryDate) > 8*24*time.Hour {
			t.Errorf("%s: expiry %v, want in 7 days", c.kind, rec.ExpiryDate)
		}
		if !strings.Contains(p.body, "will not be shown again") {
			t.Errorf("%s: no warning that the secret is shown once", c.kind)
		}
		list := b.get("/keys")
		if strings.Contains(list.body, secret) || env.Logs.Contains(secret) {
			t.Errorf("%s: the secret appeared again (page or log)", c.kind)
		}
		if !strings.Contains(list.body, name) {
			t.Errorf("%s: the new key is not listed", c.kind)
		}
		if !env.Logs.Contains("msg=audit action=create") {
			t.Errorf("%s: no audit line", c.kind)
		}
	}
}

func TestCreateRefusesBadInputBesideTheFieldAndKeepsIt(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	before := len(env.Sim.Keys())
	cases := []struct {
		fields map[string]string
		field  string
	}{
		{map[string]string{"kind": "user", "name": "", "expiry": "30d"}, "name"},
		{map[string]string{"kind": "user", "name": strings.Repeat("n", 51), "expiry": "30d"}, "name"},
		{map[string]string{"kind": "user", "name": "ok", "description": strings.Repeat("d", 151), "expiry": "30d"}, "description"},
		{map[string]string{"kind": "user", "name": "ok", "expiry": "custom", "expiry_date": "31/12/2030"}, "expiry_date"},
		{map[string]string{"kind": "user", "name": "ok", "expiry": "custom", "expiry_date": "2001-01-01"}, "expiry_date"},
		{map[string]string{"kind": "user", "name": "ok", "expiry": "forever"}, "expiry"},
		{map[string]string{"kind": "provisioning", "name": "ok", "expiry": "30d"}, "fleet"},
		{map[string]string{"kind": "provisioning", "fleet": "nobody/nothing", "expiry": "30d"}, "fleet"},
		{map[string]string{"kind": "device", "device": "not-a-uuid", "expiry": "30d"}, "device"},
		{map[string]string{"kind": "device", "device": strings.Repeat("0", 32), "expiry": "30d"}, "device"},
		{map[string]string{"kind": "admin", "expiry": "30d"}, "kind"},
	}
	for _, c := range cases {
		p := b.submit(b.get("/keys/new"), "form.keyform", c.fields)
		if p.status != http.StatusUnprocessableEntity {
			t.Errorf("%v: status %d, want 422", c.fields, p.status)
		}
		if msg := p.doc.Find(".field-error").Text(); msg == "" {
			t.Errorf("%v: no message", c.fields)
		}
		if v, _ := p.doc.Find("#k-name").Attr("value"); v != c.fields["name"] {
			t.Errorf("%v: name not kept (%q)", c.fields, v)
		}
	}
	// Exactly at balena's limits is fine.
	p := b.submit(b.get("/keys/new"), "form.keyform", map[string]string{"kind": "user", "name": strings.Repeat("n", 50), "description": strings.Repeat("d", 150), "expiry": "never"})
	if p.status != http.StatusCreated {
		t.Errorf("50/150 characters: status %d", p.status)
	}
	if n := len(env.Sim.Keys()); n != before+1 {
		t.Errorf("%d keys made, want 1", n-before)
	}
}

func TestStaleSignInAsksForThePasswordThenCreates(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	stale, err := env.Sim.IssueToken(balenasim.DemoEmail, time.Now().Add(-30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, env)
	b.submit(b.get("/signin"), "#signin-token", map[string]string{"token": stale})
	fields := map[string]string{"kind": "user", "name": "fresh-needed", "description": "typed once", "expiry": "90d"}
	p := b.submit(b.get("/keys/new"), "form.keyform", fields)
	if p.doc.Find("#k-password").Length() != 1 {
		t.Fatalf("no password prompt:\n%s", p.body)
	}
	if _, made := record(t, env, "fresh-needed"); made {
		t.Fatal("created before the password was confirmed")
	}
	wrong := b.submit(p, "form.keyform", map[string]string{"password": "nope"})
	if wrong.status != http.StatusUnauthorized || !strings.Contains(wrong.doc.Find(".field-error").Text(), "not right") {
		t.Errorf("wrong password: %d %q", wrong.status, wrong.doc.Find(".field-error").Text())
	}
	done := b.submit(wrong, "form.keyform", map[string]string{"password": balenasim.DemoPassword})
	if done.status != http.StatusCreated {
		t.Fatalf("after the password: %d\n%s", done.status, done.body)
	}
	rec, ok := record(t, env, "fresh-needed")
	if !ok || rec.Description == nil || *rec.Description != "typed once" {
		t.Errorf("the key was not made from the first form: %+v", rec)
	}
	if env.Logs.Contains(balenasim.DemoPassword) {
		t.Error("the password was logged")
	}
}

func TestAPIKeySessionCannotCreateUserKeys(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	name := "session-key"
	rec, _ := env.Sim.CreateKey(balenasim.NewKey{Kind: balenasim.KindUser, Owner: balenasim.DemoEmail, Name: &name})
	b := newBrowser(t, env)
	b.submit(b.get("/signin"), "#signin-token", map[string]string{"token": rec.Secret})
	form := b.get("/keys/new")
	if _, disabled := form.doc.Find("input[name=kind][value=user]").Attr("disabled"); !disabled {
		t.Error("the user kind should be disabled for an API-key session")
	}
	p := b.submit(form, "form.keyform", map[string]string{"kind": "user", "name": "nope", "expiry": "30d"})
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.doc.Find(".field-error").Text(), "API key") {
		t.Errorf("status %d, message %q", p.status, p.doc.Find(".field-error").Text())
	}
}

func TestEditExpireClearAndRevoke(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	k := someKey(t, env, b, "user")
	id := strconv.FormatInt(k.ID, 10)

	edit := b.get("/keys/" + id + "/edit")
	long := b.submit(edit, "form.keyform", map[string]string{"name": strings.Repeat("x", 51)})
	if long.status != http.StatusUnprocessableEntity || long.doc.Find(".field-error").Length() == 0 {
		t.Errorf("51-character name: %d", long.status)
	}
	saved := b.submit(edit, "form.keyform", map[string]string{"name": "renamed by test", "description": "new words", "expiry": "keep"})
	if saved.status != 200 || !strings.Contains(saved.doc.Find(".flash-success").Text(), "Saved “renamed by test”") {
		t.Errorf("save: %d %q", saved.status, saved.doc.Find(".flash").Text())
	}
	if r, _ := record(t, env, "renamed by test"); r.ID != k.ID || *r.Description != "new words" || !equalTime(r.ExpiryDate, k.ExpiryDate) {
		t.Errorf("after edit: %+v", r)
	}

	// Expire now, in place with htmx: the answer is the row, now expired.
	row := b.post("/keys/"+id+"/expire", formWithCSRF(saved, "return", "/keys?kind=user"), "HX-Request", "true")
	if row.status != 200 || !strings.Contains(row.body, "expired") || strings.Contains(row.body, "<html") {
		t.Errorf("expire (htmx): %d\n%s", row.status, row.body)
	}
	if r, _ := record(t, env, "renamed by test"); !r.Expired(time.Now()) {
		t.Error("the key did not expire")
	}
	// Clear the expiry without htmx: back to the same view, with a flash.
	cleared := b.post("/keys/"+id+"/expiry", formWithCSRF(saved, "return", "/keys?kind=user", "expiry", "never"))
	if !strings.HasSuffix(cleared.url, "/keys?kind=user") || !strings.Contains(cleared.doc.Find(".flash-success").Text(), "“renamed by test” no longer expires.") {
		t.Errorf("clear: %s %q", cleared.url, cleared.doc.Find(".flash").Text())
	}
	if r, _ := record(t, env, "renamed by test"); r.ExpiryDate != nil {
		t.Error("the expiry was not cleared")
	}

	confirm := b.get("/keys/" + id + "/revoke?return=%2Fkeys%3Fkind%3Duser")
	if !strings.Contains(confirm.doc.Find("h1").Text(), "Revoke “renamed by test”?") {
		t.Errorf("confirmation does not name the key: %q", confirm.doc.Find("h1").Text())
	}
	gone := b.submit(confirm, "form.actions", nil)
	if !strings.HasSuffix(gone.url, "/keys?kind=user") || !strings.Contains(gone.doc.Find(".flash-success").Text(), "Revoked “renamed by test”") {
		t.Errorf("revoke: %s %q", gone.url, gone.doc.Find(".flash").Text())
	}
	if _, still := record(t, env, "renamed by test"); still {
		t.Error("the key still exists")
	}
	if !env.Logs.Contains("action=revoke") || !env.Logs.Contains("action=expire") {
		t.Error("missing audit lines")
	}
}

func TestUnknownOrMalformedKeyIs404(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	for _, path := range []string{"/keys/abc/edit", "/keys/-1/edit", "/keys/99999999/edit", "/keys/99999999/revoke", "/keys/1e3/revoke"} {
		if p := b.get(path); p.status != http.StatusNotFound || p.doc.Find("h1").Length() == 0 {
			t.Errorf("%s: %d", path, p.status)
		}
	}
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// formWithCSRF is a form with the CSRF token of page p and the given pairs.
func formWithCSRF(p page, kv ...string) map[string][]string {
	v := map[string][]string{"_csrf": {p.doc.Find("input[name=_csrf]").First().AttrOr("value", "")}}
	for i := 0; i+1 < len(kv); i += 2 {
		v[kv[i]] = []string{kv[i+1]}
	}
	return v
}

func TestAuditFileGetsOneJSONLinePerChange(t *testing.T) {
	path := t.TempDir() + "/audit.jsonl"
	env, b := signedIn(t, portaltest.Options{Config: func(c *config.Config) { c.AuditFile = path }})
	p := b.submit(b.get("/keys/new"), "form.keyform", map[string]string{"kind": "user", "name": "audited", "expiry": "never"})
	secret, _ := p.doc.Find("#secret").Attr("value")
	rec, _ := record(t, env, "audited")
	b.post("/keys/"+strconv.FormatInt(rec.ID, 10)+"/expire", formWithCSRF(p))
	b.post("/keys/"+strconv.FormatInt(rec.ID, 10)+"/revoke", formWithCSRF(p))

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if secret == "" || strings.Contains(string(data), secret) {
		t.Fatalf("no secret shown, or the secret is in the audit file")
	}
	var actions []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var ev struct {
			Msg, Action, Username, Outcome, Kind string
			Key                                  *int64
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if ev.Msg != "audit" || ev.Username != "admin" || ev.Outcome != "ok" || ev.Kind != "user" {
			t.Errorf("event %+v", ev)
		}
		if ev.Key == nil || *ev.Key != rec.ID {
			t.Errorf("%s event names key %v, the key is %d", ev.Action, ev.Key, rec.ID)
		}
		actions = append(actions, ev.Action)
	}
	if strings.Join(actions, ",") != "create,expire,revoke" {
		t.Errorf("actions %v", actions)
	}
}

func TestUnwritableAuditFileStopsStartWithItsName(t *testing.T) {
	_, err := portaltest.New(portaltest.Options{Config: func(c *config.Config) { c.AuditFile = "/nonexistent/dir/audit.jsonl" }})
	if err == nil || !strings.Contains(err.Error(), "KEYPORTAL_AUDIT_FILE") {
		t.Errorf("got %v", err)
	}
}

func TestAPIKeySessionCannotChangeKeys(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	name := "read-only-session"
	rec, _ := env.Sim.CreateKey(balenasim.NewKey{Kind: balenasim.KindUser, Owner: balenasim.DemoEmail, Name: &name})
	b := newBrowser(t, env)
	list := b.submit(b.get("/signin"), "#signin-token", map[string]string{"token": rec.Secret})
	if list.doc.Find("table.keys tbody tr").Length() == 0 {
		t.Fatalf("no keys listed:\n%s", list.body)
	}
	if n := list.doc.Find("details.row-menu, #bulk, td.select").Length(); n != 0 {
		t.Errorf("%d change controls offered to an API-key session", n)
	}
	id := strconv.FormatInt(rec.ID, 10)
	env.Sim.ResetCounters()
	for _, path := range []string{"/keys/" + id + "/expire", "/keys/" + id + "/revoke", "/keys/" + id + "/edit", "/keys/" + id + "/rotate"} {
		p := b.post(path, formWithCSRF(list, "name", "x", "grace", "now", "expiry", "never"))
		if p.status != http.StatusForbidden || !strings.Contains(p.doc.Find("main").Text(), "API key") {
			t.Errorf("%s: %d %q", path, p.status, p.doc.Find("main p").First().Text())
		}
	}
	bulk := formWithCSRF(list, "action", "revoke")
	bulk["id"] = []string{id}
	if p := b.post("/keys/bulk", bulk); p.status != http.StatusForbidden {
		t.Errorf("bulk: %d", p.status)
	}
	c := env.Sim.Counters()
	if n := c.Get("PATCH /v7/api_key(id)") + c.Get("DELETE /v7/api_key(id)") + c.Get("GET /v7/api_key(id)") +
		c.Get("PATCH /v7/api_key") + c.Get("DELETE /v7/api_key"); n != 0 {
		t.Errorf("balena was asked %d times: %v", n, c.ByRoute)
	}
}

func TestInPlaceEditAnswersWithRows(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	k := someKey(t, env, b, "device")
	id := strconv.FormatInt(k.ID, 10)
	editor := b.get("/keys/"+id+"/edit?return=%2Fkeys%3Fkind%3Ddevice", "HX-Request", "true")
	// A bare <tr> is what htmx swaps in; an HTML parser would drop it
	// outside a table, so this reads the text.
	if !strings.HasPrefix(editor.body, `<tr data-key-id="`+id+`" class="editing">`) || !strings.Contains(editor.body, `<form class="inline-edit"`) {
		t.Fatalf("htmx edit is not a row editor:\n%s", editor.body)
	}
	saved := b.post("/keys/"+id+"/edit", url.Values{"name": {"device renamed"}, "description": {""}, "expiry": {"keep"}, "return": {"/keys?kind=device"}},
		"HX-Request", "true", "X-CSRF-Token", csrfOf(b, env))
	if saved.status != 200 || !strings.HasPrefix(saved.body, `<tr data-key-id="`+id+`">`) || !strings.Contains(saved.body, `<td class="name"><a href="/keys/`+id+`?return=%2Fkeys%3Fkind%3Ddevice">device renamed</a></td>`) {
		t.Errorf("save in place: %d\n%s", saved.status, saved.body)
	}
	if p := b.get("/keys/" + id + "/row?return=%2Fkeys%3Fkind%3Ddevice"); !strings.HasSuffix(p.url, "/keys?kind=device") {
		t.Errorf("the bare row URL without htmx should go back to the view, went to %s", p.url)
	}
}

// csrfOf is the CSRF token of a fresh keys page.
func csrfOf(b *browser, env *portaltest.Env) string {
	return b.get("/keys").doc.Find("input[name=_csrf]").First().AttrOr("value", "")
}

// open-balena lets a user read only their own keys and not read actors at
// all; the same portal must still list, filter, create, expire, revoke and
// export there, without an error page.
func TestEverythingWorksAgainstOpenBalena(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{Profile: balenasim.ProfileOpenBalena})
	list := b.get("/keys")
	kinds := list.doc.Find("td.kind-cell").Text()
	if list.status != 200 || !strings.Contains(kinds, "user") || strings.Contains(kinds, "device") || strings.Contains(kinds, "provisioning") {
		t.Fatalf("open-balena list: %d, kinds %q", list.status, kinds)
	}
	for _, q := range []string{"kind=provisioning", "kind=device", "fleet=acme/plant-3", "q=ci", "status=expired", "sort=name"} {
		if p := b.get("/keys?" + q); p.status != 200 || p.doc.Find(".flash-error").Length() != 0 {
			t.Errorf("%s: %d %q", q, p.status, p.doc.Find(".flash").Text())
		}
	}
	made := b.submit(b.get("/keys/new"), "form.keyform", map[string]string{"kind": "user", "name": "on open-balena", "expiry": "7d"})
	if made.status != http.StatusCreated {
		t.Fatalf("create: %d %q", made.status, made.doc.Find(".flash").Text())
	}
	rec, _ := record(t, env, "on open-balena")
	id := strconv.FormatInt(rec.ID, 10)
	if p := b.post("/keys/"+id+"/expire", formWithCSRF(made)); p.status != 200 || !strings.Contains(p.doc.Find(".flash-success").Text(), "Expired") {
		t.Errorf("expire: %d %q", p.status, p.doc.Find(".flash").Text())
	}
	if p := b.get("/keys/export?format=csv&q=open-balena"); p.status != 200 || !strings.Contains(p.body, "on open-balena") {
		t.Errorf("export: %d\n%s", p.status, p.body)
	}
	if p := b.post("/keys/"+id+"/revoke", formWithCSRF(made)); p.status != 200 || !strings.Contains(p.doc.Find(".flash-success").Text(), "Revoked") {
		t.Errorf("revoke: %d %q", p.status, p.doc.Find(".flash").Text())
	}
}

// Typing into the device field suggests devices by name or uuid prefix;
// the page without JavaScript never asks.
func TestDeviceFieldSuggestsDevices(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	var gw17 string
	for _, k := range env.Sim.Keys() {
		if k.DeviceName == "gw-17" {
			gw17 = k.DeviceUUID
		}
	}
	form := b.get("/keys/new?kind=device")
	field := form.doc.Find("#k-device")
	if field.AttrOr("list", "") != "device-options" || form.doc.Find("datalist#device-options").Length() != 1 {
		t.Fatalf("the device field has no suggestions list")
	}
	suggest := func(text string) map[string]string {
		p := b.get(field.AttrOr("hx-get", "")+"?device="+url.QueryEscape(text), "HX-Request", "true")
		if p.status != http.StatusOK {
			t.Fatalf("suggestions for %q: %d", text, p.status)
		}
		got := map[string]string{}
		p.doc.Find("datalist#device-options option").Each(func(_ int, o *goquery.Selection) {
			got[o.AttrOr("value", "")] = o.Text()
		})
		return got
	}
	if got := suggest("GW-1"); !strings.HasPrefix(got[gw17], "gw-17") || len(got) < 2 {
		t.Errorf("suggestions for GW-1: %v", got)
	}
	if got := suggest(gw17[:9]); len(got) != 1 || got[gw17] == "" {
		t.Errorf("suggestions for a uuid prefix: %v", got)
	}
	if got := suggest("g"); len(got) != 0 {
		t.Errorf("one letter is too little to search: %v", got)
	}
	// Opened without htmx, it is the form with the text in the field.
	if p := b.get("/keys/new/devices?device=gw-17"); !strings.HasSuffix(p.url, "/keys/new?device=gw-17&kind=device") || p.doc.Find("#k-device").AttrOr("value", "") != "gw-17" {
		t.Errorf("without htmx: %s", p.url)
	}
}
