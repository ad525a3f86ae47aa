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
)

// facts reads a key page's list of facts, label to value.
func facts(p page) map[string]string {
	f := map[string]string{}
	p.doc.Find("dl.facts dt").Each(func(_ int, dt *goquery.Selection) {
		f[strings.TrimSpace(dt.Text())] = strings.Join(strings.Fields(dt.Next().Text()), " ")
	})
	return f
}

func keyURL(k balenasim.KeyRecord) string { return "/keys/" + strconv.FormatInt(k.ID, 10) }

// A key's page shows all of it: the id, the owner in full (the whole
// device uuid, the fleet slug, the user), the exact times, where it
// stands in words, and its actions; balena is asked once.
func TestKeyPageShowsTheWholeKey(t *testing.T) {
	clock := portaltest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	env, b := signedIn(t, portaltest.Options{Clock: clock})
	now := clock.Now()
	in3, ago2 := now.Add(3*24*time.Hour), now.Add(-2*24*time.Hour)
	in40 := now.Add(40 * 24 * time.Hour)
	device := someKey(t, env, b, "device")
	cases := []struct {
		key    balenasim.KeyRecord
		facts  map[string]string
		status string
	}{
		{seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, "page-user", &in40),
			map[string]string{"Kind": "user", "Owner": "admin (you)", "Name": "page-user", "Description": "none",
				"Expires": "2027-01-05 12:00:00 UTC (in 1 month)"},
			"Active: it works until it expires in 1 month."},
		{seedKey(t, env, balenasim.KindProvisioning, "acme/plant-3", "page-prov", &in3),
			map[string]string{"Kind": "provisioning", "Fleet": "acme/plant-3"}, "Expiring soon: it stops working in 3 days."},
		{seedKey(t, env, balenasim.KindDevice, device.DeviceUUID, "page-device", &ago2),
			map[string]string{"Kind": "device", "Device UUID": device.DeviceUUID, "Device ID": strconv.FormatInt(device.DeviceID, 10)},
			"Expired 2 days ago: balena refuses it. A later expiry, or none, makes it work again."},
		{seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, "page-never", nil),
			map[string]string{"Expires": "never"}, "Never expires: it works until it is revoked."},
	}
	for _, c := range cases {
		env.Sim.ResetCounters()
		p := b.get(keyURL(c.key))
		if p.status != http.StatusOK {
			t.Fatalf("%s: status %d %q", *c.key.Name, p.status, p.doc.Find("main").Text())
		}
		if n := env.Sim.Counters().Total(); n != 1 {
			t.Errorf("%s: %d balena calls, want 1: %v", *c.key.Name, n, env.Sim.Counters().ByRoute)
		}
		got := facts(p)
		c.facts["ID"] = strconv.FormatInt(c.key.ID, 10)
		c.facts["Created"] = c.key.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC") + " (" + "just now" + ")"
		c.facts["Status"] = c.status
		for label, want := range c.facts {
			if got[label] != want {
				t.Errorf("%s: %s = %q, want %q", *c.key.Name, label, got[label], want)
			}
		}
		if h1 := strings.TrimSpace(p.doc.Find("h1").Text()); h1 != *c.key.Name {
			t.Errorf("%s: heading %q", *c.key.Name, h1)
		}
		if back := p.doc.Find(".pagehead a").AttrOr("href", ""); back != "/keys" {
			t.Errorf("%s: back link %q", *c.key.Name, back)
		}
		var actions []string
		p.doc.Find("nav.key-actions a").Each(func(_ int, a *goquery.Selection) {
			actions = append(actions, strings.TrimSpace(a.Text())+" "+a.AttrOr("href", ""))
		})
		id, ret := strconv.FormatInt(c.key.ID, 10), "?return=%2Fkeys%2F"+strconv.FormatInt(c.key.ID, 10)
		want := []string{"Edit /keys/" + id + "/edit" + ret, "Set expiry… /keys/" + id + "/edit" + ret + "#k-expiry"}
		if c.key.ExpiryDate == nil || c.key.ExpiryDate.After(now) {
			want = append(want, "Expire now… /keys/"+id+"/expire"+ret)
		}
		if c.key.ExpiryDate != nil {
			want = append(want, "Clear expiry… /keys/"+id+"/expiry"+ret)
		}
		want = append(want, "Rotate… /keys/"+id+"/rotate"+ret, "Revoke… /keys/"+id+"/revoke"+ret)
		if strings.Join(actions, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: actions\n%s\nwant\n%s", *c.key.Name, strings.Join(actions, "\n"), strings.Join(want, "\n"))
		}
	}
}

// A key's name in the table opens its page, which leads back to the same
// view; an action taken there comes back to the page, with what it did.
func TestKeyPageFromTheTableAndBack(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	later := time.Now().AddDate(0, 2, 0)
	k := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, "from-the-table", &later)
	view := "/keys?kind=user&q=from-the-table"
	link := b.get(view).doc.Find(`tr[data-key-id="` + strconv.FormatInt(k.ID, 10) + `"] td.name a`)
	href := link.AttrOr("href", "")
	if strings.TrimSpace(link.Text()) != "from-the-table" || href != keyURL(k)+"?return="+url.QueryEscape(view) {
		t.Fatalf("name link %q → %q", link.Text(), href)
	}
	p := b.get(href)
	if back := p.doc.Find(".pagehead a").AttrOr("href", ""); p.status != http.StatusOK || back != view {
		t.Fatalf("key page %d, back to %q, want %q", p.status, back, view)
	}

	// Rename, from the page.
	edit := b.get(p.doc.Find("nav.key-actions a:contains('Edit')").AttrOr("href", ""))
	if a := edit.doc.Find(".pagehead a"); a.Text() != "Back to the key" || a.AttrOr("href", "") != href {
		t.Errorf("edit page's way back: %q → %q", a.Text(), a.AttrOr("href", ""))
	}
	done := b.submit(edit, "form.keyform", map[string]string{"name": "renamed-on-its-page"})
	if done.url != b.env.URL+href || flashText(done) != "Saved “renamed-on-its-page”." || facts(done)["Name"] != "renamed-on-its-page" {
		t.Errorf("after editing: %s %q name %q", done.url, flashText(done), facts(done)["Name"])
	}
	// Expire now: asks first, then comes back to the page, which says so.
	ask := b.get(done.doc.Find("nav.key-actions a:contains('Expire now')").AttrOr("href", ""))
	done = b.submit(ask, "form.actions", nil)
	if done.url != b.env.URL+href || flashText(done) != "Expired “renamed-on-its-page”." ||
		!strings.HasPrefix(facts(done)["Status"], "Expired just now") {
		t.Errorf("after expiring: %s %q status %q", done.url, flashText(done), facts(done)["Status"])
	}
	// Revoke: back to the view it came from, and the page says it is gone.
	ask = b.get(done.doc.Find("nav.key-actions a:contains('Revoke')").AttrOr("href", ""))
	done = b.submit(ask, "form.actions", nil)
	if done.url != b.env.URL+view || flashText(done) != "Revoked “renamed-on-its-page”." {
		t.Errorf("after revoking: %s %q", done.url, flashText(done))
	}
	gone := b.get(href)
	if gone.status != http.StatusNotFound || !strings.Contains(gone.doc.Find("main").Text(), "Key #"+strconv.FormatInt(k.ID, 10)+" was revoked by admin (you) on ") ||
		gone.doc.Find(".pagehead a").AttrOr("href", "") != view {
		t.Errorf("revoked key's page: %d %q", gone.status, gone.doc.Find("main").Text())
	}
}

// Rotating from a key's page: Cancel and Done lead back to it.
func TestRotateFromTheKeyPageComesBack(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	later := time.Now().AddDate(0, 2, 0)
	k := seedKey(t, env, balenasim.KindProvisioning, "acme/plant-3", "rotated-from-page", &later)
	p := b.get(keyURL(k))
	form := b.get(p.doc.Find("nav.key-actions a:contains('Rotate')").AttrOr("href", ""))
	if a := form.doc.Find(".pagehead a"); a.Text() != "Back to the key" || a.AttrOr("href", "") != keyURL(k) {
		t.Errorf("rotate page's way back: %q → %q", a.Text(), a.AttrOr("href", ""))
	}
	if cancel := form.doc.Find("form.keyform a:contains('Cancel')").AttrOr("href", ""); cancel != keyURL(k) {
		t.Errorf("rotate form's Cancel: %q", cancel)
	}
	made := b.submit(form, "form.keyform", map[string]string{"grace": "1d", "expiry": "30d"})
	if done := made.doc.Find(".created a:contains('Done')").AttrOr("href", ""); made.status != http.StatusCreated || done != keyURL(k) {
		t.Errorf("rotated: %d, Done → %q", made.status, done)
	}
}

// A key that does not exist, or that the session cannot see, is a plain
// 404 page; so is an id that is not a number, which the page says.
func TestKeyPageNotFound(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	hidden := seedKey(t, env, balenasim.KindUser, "eve@example.com", "eves-key", nil)
	for path, want := range map[string]string{
		keyURL(hidden):                     "There is no key #" + strconv.FormatInt(hidden.ID, 10) + " that your account can see",
		"/keys/99999999":                   "There is no key #99999999 that your account can see",
		"/keys/9223372036854775807":        "There is no key #9223372036854775807 that your account can see",
		"/keys/abc":                        "“abc” is not a key id: key ids are whole numbers",
		"/keys/-3":                         "“-3” is not a key id",
		"/keys/1e3":                        "“1e3” is not a key id",
		"/keys/" + strings.Repeat("9", 30): "is not a key id",
	} {
		p := b.get(path)
		if p.status != http.StatusNotFound || !strings.Contains(p.doc.Find("main").Text(), want) {
			t.Errorf("GET %s: %d %q, want 404 saying %q", path, p.status, strings.Join(strings.Fields(p.doc.Find("main").Text()), " "), want)
		}
	}
	if n := len(b.get(keyURL(hidden)).doc.Find("dl.facts").Nodes); n != 0 {
		t.Error("a hidden key's page shows facts")
	}
}

// A session that may not change keys sees the page without actions,
// and why.
func TestKeyPageOfAnAPIKeySession(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	name := "reads-only"
	rec, err := env.Sim.CreateKey(balenasim.NewKey{Kind: balenasim.KindUser, Owner: balenasim.DemoEmail, Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := signInWithToken(t, env, rec.Secret)
	p := b.get(keyURL(rec))
	if p.status != http.StatusOK || p.doc.Find("nav.key-actions").Length() != 0 ||
		!strings.Contains(p.doc.Find("main").Text(), "This sign-in can see keys but not change them.") {
		t.Errorf("API-key session's key page: %d %q", p.status, p.doc.Find("main").Text())
	}
}

// A return address names this key's page or a keys view, rebuilt from
// what it means; anything else (another key's page, another site) goes
// back to the plain keys page.
func TestKeyPageReturnAddressesStayOnThePortal(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	later := time.Now().AddDate(0, 2, 0)
	k := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, "return-addresses", &later)
	other := seedKey(t, env, balenasim.KindUser, balenasim.DemoEmail, "another-key", &later)
	for ret, want := range map[string]string{
		keyURL(k): keyURL(k),
		keyURL(k) + "?return=%2Fkeys%3Fkind%3Duser":             keyURL(k) + "?return=%2Fkeys%3Fkind%3Duser",
		keyURL(k) + "?return=https%3A%2F%2Fevil.example%2Fkeys": keyURL(k),
		keyURL(other):                      "/keys",
		"https://evil.example" + keyURL(k): "/keys",
		"//evil.example" + keyURL(k):       "/keys",
		keyURL(k) + "/../../evil":          "/keys",
	} {
		edit := b.get(keyURL(k) + "/edit?return=" + url.QueryEscape(ret))
		if back := edit.doc.Find(".pagehead a").AttrOr("href", ""); back != want {
			t.Errorf("return %q: edit page leads back to %q, want %q", ret, back, want)
		}
	}
	if back := b.get(keyURL(k)+"?return="+url.QueryEscape("https://evil.example/keys")).doc.Find(".pagehead a").AttrOr("href", ""); back != "/keys" {
		t.Errorf("key page with a foreign return leads back to %q", back)
	}
}
