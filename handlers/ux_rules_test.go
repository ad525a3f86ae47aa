package handlers_test

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyportal/keyportal/apiclient/balenasim"

	"github.com/keyportal/keyportal/handlers/portaltest"
)

// Issue 12 #15: balena has no scopes for user keys; the form says so
// beside "User key", so nobody looks for them.
func TestCreateFormSaysUserKeysHaveNoScopes(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	p := b.get("/keys/new")
	note := p.doc.Find("fieldset.kinds #k-user-power").Text()
	if !strings.Contains(note, "full power of your account") || !strings.Contains(note, "no scopes") {
		t.Errorf("no word on the power of user keys beside the kind: %q", note)
	}
}

// Issue 12 #13: the reader's own key is "your user key", never "the user
// key of you", on the revoke, edit and actions pages; others' keys keep
// their owner.
func TestPagesNameYourOwnKeyAsYours(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	mine := strconv.FormatInt(someKey(t, env, b, "user").ID, 10)
	theirs := someKey(t, env, b, "provisioning")
	for _, path := range []string{"/revoke", "/edit", "/actions"} {
		text := squash(b.get("/keys/" + mine + path).doc.Find("main").Text())
		if strings.Contains(text, "of you") || !strings.Contains(strings.ToLower(text), "your user key") {
			t.Errorf("%s of the reader's own key: %q", path, text)
		}
	}
	text := squash(b.get("/keys/" + strconv.FormatInt(theirs.ID, 10) + "/revoke").doc.Find("main").Text())
	if !strings.Contains(text, "This deletes the provisioning key of "+theirs.FleetSlug+" (created") {
		t.Errorf("revoke of a fleet's key: %q", text)
	}
}

// squash makes runs of white space one space.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// Issue 12 #14: a number in the search box finds the key with that id
// (and still any key whose name or description holds it), at balena.
func TestSearchFindsAKeyByItsID(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	k := someKey(t, env, b, "device")
	id := strconv.FormatInt(k.ID, 10)
	p := b.get("/keys?q=" + id)
	rows := p.doc.Find("table.keys tbody tr")
	if got, _ := rows.First().Attr("data-key-id"); rows.Length() != 1 || got != id {
		t.Errorf("q=%s lists %d rows, first %q", id, rows.Length(), got)
	}
}

// Issue 12 #13: by name, unnamed keys come last in both directions (balena
// itself puts them first when descending).
func TestSortByNameKeepsUnnamedKeysLast(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	for _, sort := range []string{"name", "-name"} {
		p := b.get("/keys?per_page=100&sort=" + sort)
		var names []string
		p.doc.Find("table.keys tbody tr").Each(func(_ int, r *goquery.Selection) {
			names = append(names, squash(r.Find("td.name, th.name").First().Text()))
		})
		first := slices.IndexFunc(names, func(n string) bool { return strings.Contains(n, "(unnamed)") })
		if first < 1 || slices.ContainsFunc(names[first:], func(n string) bool { return !strings.Contains(n, "(unnamed)") }) {
			t.Errorf("sort=%s: %q", sort, names)
		}
	}
}

// Issue 12 #13: the rotation's cut-off is a <time> like the table's
// (relative, the exact moment on hover that app.js localises), not UTC
// text.
func TestRotationCutOffIsALocalisableTime(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	old := someKey(t, env, b, "provisioning")
	p := b.submit(b.get("/keys/"+strconv.FormatInt(old.ID, 10)+"/rotate"), "form.keyform", map[string]string{"grace": "1d", "expiry": "30d"})
	flash := p.doc.Find(".flash-success")
	tm := flash.Find("time[datetime]")
	at, _ := tm.Attr("datetime")
	retired := simKey(env, old.ID)
	if retired.ExpiryDate == nil || at != retired.ExpiryDate.UTC().Format(time.RFC3339) || !strings.HasPrefix(tm.Text(), "in ") {
		t.Errorf("cut-off %q (%q), the old key expires %v", at, tm.Text(), retired.ExpiryDate)
	}
	if text := squash(flash.Text()); text != "The old key stops working "+tm.Text()+"." || strings.Contains(text, "UTC") {
		t.Errorf("flash %q", text)
	}
}

// Issue 12 #5: the create form takes the device's exact name (or a UUID
// prefix) without the suggestion being picked, and its field says so.
func TestCreateDeviceKeyByTheDevicesName(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	dev := someKey(t, env, b, "device")
	form := b.get("/keys/new?kind=device")
	if label := squash(form.doc.Find("label[for=k-device]").Text()); label != "Device" {
		t.Errorf("the field is labelled %q", label)
	}
	for i, typed := range []string{dev.DeviceName, strings.ToUpper(dev.DeviceUUID[:7])} {
		name := "by name " + strconv.Itoa(i)
		p := b.submit(form, "form.keyform", map[string]string{"kind": "device", "device": typed, "name": name, "expiry": "7d"})
		rec, ok := record(t, env, name)
		if p.status != http.StatusCreated || !ok || rec.DeviceUUID != dev.DeviceUUID {
			t.Errorf("device %q: status %d, made %+v; %q", typed, p.status, rec, p.doc.Find(".field-error").Text())
		}
	}
	p := b.submit(form, "form.keyform", map[string]string{"kind": "device", "device": "no-such-device", "name": "x", "expiry": "7d"})
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.doc.Find(".field-error").Text(), "You cannot reach a device named “no-such-device”") {
		t.Errorf("unknown device: %d %q", p.status, p.doc.Find(".field-error").Text())
	}
}

// Issue 12 #7: Expire now and Clear expiry ask first, on a page naming the
// key and what will happen (the row menu links there), change nothing
// until confirmed, and flash what was done.
func TestExpireAndClearExpiryAskFirst(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	list := b.get("/keys?kind=user&status=active&sort=name")
	tpl := list.doc.Find("template#row-menu-template")
	html, _ := tpl.Html()
	for _, want := range []string{`href="/keys/{id}/expire?return=`, `href="/keys/{id}/expiry?return=`} {
		if !strings.Contains(html, want) {
			t.Errorf("the row menu has no link %s…:\n%s", want, html)
		}
	}
	if strings.Contains(html, "<button") {
		t.Errorf("the row menu still changes a key in one click:\n%s", html)
	}

	k := someKey(t, env, b, "user")
	id := strconv.FormatInt(k.ID, 10)
	ret := "?return=%2Fkeys%3Fkind%3Duser"
	ask := b.get("/keys/" + id + "/expire" + ret)
	if h1 := ask.doc.Find("h1").Text(); ask.status != 200 || h1 != "Expire “"+*k.Name+"” now?" || !strings.Contains(ask.doc.Find("main").Text(), "stops working at once") {
		t.Errorf("expire confirmation: %d %q", ask.status, h1)
	}
	if r := simKey(env, k.ID); !equalTime(r.ExpiryDate, k.ExpiryDate) {
		t.Error("asking expired the key")
	}
	done := b.submit(ask, "form.actions", nil)
	if !strings.HasSuffix(done.url, "/keys?kind=user") || squash(done.doc.Find(".flash-success").Text()) != "Expired “"+*k.Name+"”." {
		t.Errorf("expire: %s %q", done.url, done.doc.Find(".flash").Text())
	}
	if !simKey(env, k.ID).Expired(time.Now()) {
		t.Error("the key did not expire")
	}

	// Now expired: clearing its expiry revives it, and the page says so.
	ask = b.get("/keys/" + id + "/expiry" + ret)
	if h1 := ask.doc.Find("h1").Text(); h1 != "Revive “"+*k.Name+"”?" || !strings.Contains(ask.doc.Find("main").Text(), "makes it work again") {
		t.Errorf("clear confirmation of an expired key: %q", h1)
	}
	if simKey(env, k.ID).ExpiryDate == nil {
		t.Error("asking cleared the expiry")
	}
	done = b.submit(ask, "form.actions", nil)
	if squash(done.doc.Find(".flash-success").Text()) != "“"+*k.Name+"” no longer expires." || simKey(env, k.ID).ExpiryDate != nil {
		t.Errorf("clear: %q, expiry %v", done.doc.Find(".flash").Text(), simKey(env, k.ID).ExpiryDate)
	}

	// With htmx the question comes in the row, and the answer is the new
	// row with what was done in the page's alerts.
	row := b.get("/keys/"+id+"/expire"+ret, "HX-Request", "true")
	if row.status != 200 || !strings.HasPrefix(row.body, `<tr data-key-id="`+id+`"`) || !strings.Contains(row.body, `hx-post="/keys/`+id+`/expire"`) || strings.Contains(row.body, "<html") {
		t.Fatalf("htmx confirmation: %d\n%s", row.status, row.body)
	}
	after := b.post("/keys/"+id+"/expire", formWithCSRF(list, "return", "/keys?kind=user"), "HX-Request", "true")
	if oob := after.doc.Find("#alerts[hx-swap-oob] .flash-success").Text(); squash(oob) != "Expired “"+*k.Name+"”." || !strings.HasPrefix(after.body, `<tr data-key-id="`+id+`"`) {
		t.Errorf("htmx expire: %q\n%s", oob, after.body)
	}
}

// Issue 12 #6: the rotate form offers, and picks, a fresh expiry as long
// as the old key was given (not the old key's date), and names it; the
// form as it comes makes the new key with it.
func TestRotationDefaultsToTheOldKeysLifetimeFromNow(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	life := 40 * 24 * time.Hour
	created := time.Now().Add(-37 * 24 * time.Hour)
	expires := created.Add(life)
	name := "rotate by length"
	old, err := env.Sim.CreateKey(balenasim.NewKey{Kind: balenasim.KindUser, Owner: balenasim.DemoEmail, Name: &name, CreatedAt: created, ExpiryDate: &expires})
	if err != nil {
		t.Fatal(err)
	}
	form := b.get("/keys/" + strconv.FormatInt(old.ID, 10) + "/rotate")
	chosen := form.doc.Find("select#k-expiry option[selected]")
	if v, _ := chosen.Attr("value"); v != "fresh" || !strings.Contains(chosen.Text(), "40 days") {
		t.Errorf("the default expiry is %q (%q)", v, chosen.Text())
	}
	start := time.Now()
	p := b.submit(form, "form.keyform", nil)
	nk, ok := replacement(env, old)
	if p.status != http.StatusCreated || !ok || nk.ExpiryDate == nil {
		t.Fatalf("rotate: %d, replacement %+v", p.status, nk)
	}
	if nk.ExpiryDate.Before(start.Add(life-time.Minute)) || nk.ExpiryDate.After(time.Now().Add(life+time.Minute)) {
		t.Errorf("the new key expires %v, want 40 days from now (the old one expires %v)", nk.ExpiryDate, expires)
	}
}

// Issue 12 #4: the device filter takes a device's name or the 7
// characters of its UUID the Owner column shows (any case), the fleet
// filter a fleet's name as well as its slug, resolved at balena in the
// list's own query; a device text that names no device says so.
func TestFilterByDeviceNameOrUUIDPrefixAndFleetName(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	var gw17 string
	for _, k := range env.Sim.Keys() {
		if k.DeviceName == "gw-17" {
			gw17 = k.DeviceUUID
		}
	}
	ids := func(p page) []string {
		var out []string
		p.doc.Find("table.keys tbody tr").Each(func(_ int, r *goquery.Selection) { out = append(out, r.AttrOr("data-key-id", "")) })
		slices.Sort(out)
		return out
	}
	want := ids(b.get("/keys?device=" + gw17))
	if len(want) == 0 {
		t.Fatal("gw-17 has no keys")
	}
	for _, typed := range []string{"gw-17", strings.ToUpper(gw17[:7]), gw17[:7]} {
		env.Sim.ResetCounters()
		p := b.get("/keys?device=" + url.QueryEscape(typed))
		if got := ids(p); p.status != 200 || !slices.Equal(got, want) {
			t.Errorf("device=%s: %d, keys %v, want %v", typed, p.status, got, want)
		}
		if n := env.Sim.Counters().Total(); n > 2 {
			t.Errorf("device=%s: %d calls to balena, want the list and its count", typed, n)
		}
	}
	if bySlug, byName := ids(b.get("/keys?fleet=acme%2Fplant-3")), ids(b.get("/keys?fleet=plant-3")); len(bySlug) == 0 || !slices.Equal(bySlug, byName) {
		t.Errorf("fleet by name lists %v, by slug %v", byName, bySlug)
	}
	p := b.get("/keys?kind=device&device=gw-71")
	if msg := p.doc.Find(".field-error").Text(); p.status != http.StatusBadRequest || !strings.Contains(msg, "You cannot reach a device named “gw-71”") || len(ids(p)) == 0 {
		t.Errorf("a device nobody has: %d %q, %d rows", p.status, msg, len(ids(p)))
	}
	if label := squash(p.doc.Find("label[for=f-device]").Text()); label != "Device" {
		t.Errorf("the filter is labelled %q", label)
	}
}
