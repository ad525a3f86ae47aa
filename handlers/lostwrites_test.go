package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

// auditEvents reads the audit file's events of one action.
func auditEvents(t *testing.T, path, action string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ev["action"] == action {
			out = append(out, ev)
		}
	}
	return out
}

// A write action of the matrix: what it does to a fresh key, and how to
// tell from the stand-in whether balena applied it.
type writeAction struct {
	name, audit string
	route       string // the write's METHOD /path prefix
	// run makes a fresh target and posts the action; it returns the page
	// and whether balena now holds the change.
	run func(t *testing.T, env *portaltest.Env, b *browser, csrf url.Values, n int) (page, func() bool)
	// done and notDone are words the page must show in each case.
	done, notDone string
	// alwaysChecked: the action reads back every outcome (bulk actions:
	// a collection write does not say which rows it changed).
	alwaysChecked bool
}

func seedKey(t *testing.T, env *portaltest.Env, kind balenasim.KeyKind, owner, name string, expiry *time.Time) balenasim.KeyRecord {
	t.Helper()
	k, err := env.Sim.CreateKey(balenasim.NewKey{Kind: kind, Owner: owner, Name: &name, ExpiryDate: expiry})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeActions(t *testing.T) []writeAction {
	later := time.Now().AddDate(0, 2, 0)
	keyPath := func(k balenasim.KeyRecord, action string) string {
		return "/keys/" + strconv.FormatInt(k.ID, 10) + "/" + action
	}
	post := func(b *browser, path string, csrf url.Values, kv ...string) page {
		form := url.Values{}
		for k, v := range csrf {
			form[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			form.Set(kv[i], kv[i+1])
		}
		return b.post(path, form)
	}
	create := func(kind, fleet string) func(*testing.T, *portaltest.Env, *browser, url.Values, int) (page, func() bool) {
		return func(t *testing.T, env *portaltest.Env, b *browser, csrf url.Values, n int) (page, func() bool) {
			name := fmt.Sprintf("lost %s %d", kind, n)
			device := ""
			if kind == "device" {
				device = someKey(t, env, b, "device").DeviceUUID
			}
			p := post(b, "/keys/new", csrf, "kind", kind, "name", name, "fleet", fleet, "device", device, "expiry", "30d")
			return p, func() bool { _, ok := record(t, env, name); return ok }
		}
	}
	made := "was made, but balena's answer with its secret was lost"
	return []writeAction{
		{name: "create user key", audit: "create", route: "POST /api-key/user/full", run: create("user", ""), done: made, notDone: "The key was not created."},
		{name: "create provisioning key", audit: "create", route: "POST /api-key/v2", run: create("provisioning", "acme/plant-3"), done: made, notDone: "The key was not created."},
		{name: "create device key", audit: "create", route: "POST /api-key/device/", run: create("device", ""), done: made, notDone: "The key was not created."},
		{name: "edit", audit: "update", route: "PATCH /v7/api_key", done: "Saved “renamed", notDone: "Nothing was saved.",
			run: func(t *testing.T, env *portaltest.Env, b *browser, csrf url.Values, n int) (page, func() bool) {
				k := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, fmt.Sprintf("edit %d", n), nil)
				to := fmt.Sprintf("renamed %d", n)
				p := post(b, keyPath(k, "edit"), csrf, "name", to, "description", "", "expiry", "keep")
				return p, func() bool { r, _ := record(t, env, to); return r.ID == k.ID }
			}},
		{name: "set expiry", audit: "set_expiry", route: "PATCH /v7/api_key", done: "Set the expiry of", notDone: "The expiry was not changed.",
			run: func(t *testing.T, env *portaltest.Env, b *browser, csrf url.Values, n int) (page, func() bool) {
				k := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, fmt.Sprintf("set %d", n), nil)
				p := post(b, keyPath(k, "expiry"), csrf, "expiry", "30d")
				return p, func() bool { return simKey(env, k.ID).ExpiryDate != nil }
			}},
		{name: "clear expiry", audit: "clear_expiry", route: "PATCH /v7/api_key", done: "no longer expires.", notDone: "The expiry was not cleared.",
			run: func(t *testing.T, env *portaltest.Env, b *browser, csrf url.Values, n int) (page, func() bool) {
				k := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, fmt.Sprintf("clear %d", n), &later)
				p := post(b, keyPath(k, "expiry"), csrf, "expiry", "never")
				return p, func() bool { return simKey(env, k.ID).ExpiryDate == nil }
			}},
		{name: "expire now", audit: "expire", route: "PATCH /v7/api_key", done: "Expired “", notDone: "The key was not expired.",
			run: func(t *testing.T, env *portaltest.Env, b *browser, csrf url.Values, n int) (page, func() bool) {
				k := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, fmt.Sprintf("expire %d", n), &later)
				p := post(b, keyPath(k, "expire"), csrf)
				return p, func() bool { return simKey(env, k.ID).Expired(time.Now()) }
			}},
		{name: "revoke", audit: "revoke", route: "DELETE /v7/api_key", done: "Revoked “", notDone: "The key was not revoked.",
			run: func(t *testing.T, env *portaltest.Env, b *browser, csrf url.Values, n int) (page, func() bool) {
				k := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, fmt.Sprintf("revoke %d", n), nil)
				p := post(b, keyPath(k, "revoke"), csrf)
				return p, func() bool { _, ok := record(t, env, fmt.Sprintf("revoke %d", n)); return !ok }
			}},
		{name: "bulk expire", audit: "expire", route: "PATCH /v7/api_key", done: "Every selected key was changed.", notDone: "could not be changed", alwaysChecked: true,
			run: func(t *testing.T, env *portaltest.Env, b *browser, csrf url.Values, n int) (page, func() bool) {
				k := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, fmt.Sprintf("bulk expire %d", n), &later)
				p := post(b, "/keys/bulk", csrf, "action", "expire", "confirm", "1", "id", strconv.FormatInt(k.ID, 10))
				return p, func() bool { return simKey(env, k.ID).Expired(time.Now()) }
			}},
		{name: "bulk revoke", audit: "revoke", route: "DELETE /v7/api_key", done: "Every selected key was changed.", notDone: "could not be changed", alwaysChecked: true,
			run: func(t *testing.T, env *portaltest.Env, b *browser, csrf url.Values, n int) (page, func() bool) {
				name := fmt.Sprintf("bulk revoke %d", n)
				k := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, name, nil)
				p := post(b, "/keys/bulk", csrf, "action", "revoke", "confirm", "1", "id", strconv.FormatInt(k.ID, 10))
				return p, func() bool { _, ok := record(t, env, name); return !ok }
			}},
		{name: "rotate", audit: "rotate_create", route: "POST /api-key/v2", done: made, notDone: "The key was not rotated",
			run: func(t *testing.T, env *portaltest.Env, b *browser, csrf url.Values, n int) (page, func() bool) {
				k := seedKey(t, env, balenasim.KindProvisioning, "acme/plant-3", fmt.Sprintf("rotate %d", n), &later)
				p := post(b, keyPath(k, "rotate"), csrf, "grace", "now", "expiry", "90d")
				return p, func() bool { _, ok := replacement(env, k); return ok }
			}},
	}
}

// A write whose answer is lost is checked against what balena holds: the
// page and the audit trail say what balena did, in every cell of the
// matrix of actions and ways to lose an answer. A plain 5xx comes before
// the write: nothing is applied, and both say so.
func TestALostAnswerIsCheckedAgainstWhatBalenaHolds(t *testing.T) {
	audit := t.TempDir() + "/audit.jsonl"
	env, b := signedIn(t, portaltest.Options{Config: func(c *config.Config) {
		c.AuditFile = audit
		c.UpstreamTimeout = 700 * time.Millisecond
	}})
	csrf := url.Values(formWithCSRF(b.get("/keys/new")))
	faults := []struct {
		name    string
		f       balenasim.Faults
		applied bool
		twoXX   bool // a 2xx to PATCH or DELETE is success: nothing to check
	}{
		{"answer after the timeout", balenasim.Faults{Latency: 3 * time.Second}, true, false},
		{"2xx cut short", balenasim.Faults{TruncateRate: 1}, true, true},
		{"2xx garbled", balenasim.Faults{GarbageRate: 1}, true, true},
		{"reset after the write", balenasim.Faults{ResetRate: 1}, true, false},
		{"5xx before the write", balenasim.Faults{ErrorRate: 1}, false, false},
	}
	n := 0
	for _, a := range writeActions(t) {
		for _, fc := range faults {
			n++
			f := fc.f
			f.Routes = []string{a.route}
			env.Sim.SetFaults(f)
			p, holds := a.run(t, env, b, csrf, n)
			env.Sim.SetFaults(balenasim.Faults{})
			applied := holds()
			text := p.doc.Find("main").Text()
			events := auditEvents(t, audit, a.audit)
			last := map[string]any{}
			if len(events) > 0 {
				last = events[len(events)-1]
			}
			outcome, _ := last["outcome"].(string)
			switch {
			case applied != fc.applied:
				t.Errorf("%s, %s: balena applied it: %v, want %v", a.name, fc.name, applied, fc.applied)
			case applied && (!strings.Contains(text, a.done) || strings.Contains(text, a.notDone) || outcome != "ok"):
				t.Errorf("%s, %s: balena holds the change, but the page says %q and the audit %q", a.name, fc.name, strings.Join(strings.Fields(text), " "), outcome)
			case !applied && (!strings.Contains(text, a.notDone) || !strings.HasPrefix(outcome, "failed")):
				t.Errorf("%s, %s: balena does not hold the change, but the page says %q and the audit %q", a.name, fc.name, strings.Join(strings.Fields(text), " "), outcome)
			case (last["verified"] == true) != (a.alwaysChecked || !fc.twoXX || strings.HasPrefix(a.route, "POST")):
				t.Errorf("%s, %s: the audit says the outcome was checked %v, want it where balena's answer was lost: %v", a.name, fc.name, last["verified"], last)
			}
			if applied && a.done == "was made, but balena's answer with its secret was lost" {
				// The new key is named, and one click revokes it.
				if p.doc.Find("form button:contains('Revoke this key')").Length() != 1 || p.doc.Find("#secret").Length() != 0 {
					t.Errorf("%s, %s: no revoke button for the key whose secret was lost, or a secret field", a.name, fc.name)
				}
			}
		}
	}
}

// When even the check fails, the outcome is unknown: the page says so and
// links to the view that shows the key, and the audit records "unknown".
func TestAnUncheckableOutcomeIsUnknownWithALink(t *testing.T) {
	audit := t.TempDir() + "/audit.jsonl"
	env, b := signedIn(t, portaltest.Options{Config: func(c *config.Config) { c.AuditFile = audit }})
	csrf := formWithCSRF(b.get("/keys/new"))
	k := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, "unknowable", nil)
	// The read that loads the key passes; the write and every check after
	// it lose their answers.
	env.Sim.SetFaults(balenasim.Faults{ResetRate: 1, Skip: 1, Routes: []string{"DELETE /v7/api_key", "GET /v7/api_key"}})
	p := b.post("/keys/"+strconv.FormatInt(k.ID, 10)+"/revoke", csrf)
	env.Sim.SetFaults(balenasim.Faults{})
	if !strings.Contains(p.doc.Find("main").Text(), "could not check whether the key was revoked") || p.status != 502 {
		t.Errorf("page %d: %s", p.status, p.doc.Find("main").Text())
	}
	link, _ := p.doc.Find("main a:contains('See it in the list')").Attr("href")
	if link != "/keys?kind=user&q=unknowable" {
		t.Errorf("link %q", link)
	}
	if ev := auditEvents(t, audit, "revoke"); len(ev) != 1 || !strings.HasPrefix(ev[0]["outcome"].(string), "unknown") {
		t.Errorf("audit %v", ev)
	}
}

// A key made although balena's answer with its secret was lost is named,
// and revoked in one click.
func TestAKeyWhoseSecretWasLostIsRevokedInOneClick(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	form := b.get("/keys/new")
	env.Sim.SetFaults(balenasim.Faults{TruncateRate: 1, Routes: []string{"POST /api-key/user/full"}})
	p := b.submit(form, "form.keyform", map[string]string{"kind": "user", "name": "secret gone", "expiry": "7d"})
	env.Sim.SetFaults(balenasim.Faults{})
	k, ok := record(t, env, "secret gone")
	if !ok || !strings.Contains(p.doc.Find(".flash-error").Text(), "The key “secret gone” was made") {
		t.Fatalf("made %v; page: %s", ok, p.doc.Find("main").Text())
	}
	done := b.submit(p, "form.flash-action", nil)
	if _, ok := record(t, env, "secret gone"); ok || !strings.Contains(done.doc.Find(".flash").Text(), "Revoked “secret gone”.") {
		t.Errorf("key %d still there (%v), or the page says %q", k.ID, ok, done.doc.Find(".flash").Text())
	}
	if !strings.Contains(done.url, "q=secret+gone") {
		t.Errorf("went back to %s, want the view of the key", done.url)
	}
}
