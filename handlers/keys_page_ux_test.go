package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
)

// Each row shows its key's id, the handle the balena CLI and the export
// use, in a column of its own.
func TestEachRowShowsItsKeyID(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	p := b.get("/keys")
	rows := p.doc.Find("table.keys tbody tr")
	if rows.Length() == 0 {
		t.Fatal("no rows")
	}
	if got := p.doc.Find("table.keys thead th").Eq(8).Text(); got != "ID" {
		t.Errorf("column 9 is %q, want ID", got)
	}
	for i := range rows.Length() {
		row := rows.Eq(i)
		id, _ := row.Attr("data-key-id")
		if got := row.Find("td.key-id").Text(); got != id {
			t.Errorf("row %s shows id %q", id, got)
		}
	}
}

// The filter form submitted without JavaScript sends every field; the
// page answers with a 303 to the short, canonical URL of that view, as
// htmx pushes it. A bad value is not redirected away: it stays to be shown.
func TestPlainFilterSubmissionRedirectsToItsCanonicalURL(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	noRedirect := *b.http
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, c := range []struct{ query, want string }{
		{"q=&kind=provisioning&fleet=&status=&within=7&created_after=&created_before=&expires_after=&expires_before=&device=&sort=name&per_page=50", "/keys?kind=provisioning&sort=name"},
		{"q=gw&status=active&within=30&sort=-created_at&per_page=50", "/keys?q=gw&status=active"},
		{"status=expiring&within=30&q=", "/keys?status=expiring&within=30"},
		{"q=&fleet=&status=&within=7&sort=-created_at&per_page=50", "/keys"},
	} {
		res, err := noRedirect.Get(env.URL + "/keys?" + c.query)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != c.want {
			t.Errorf("%s: %d to %q, want 303 to %q", c.query, res.StatusCode, res.Header.Get("Location"), c.want)
		}
	}
	for _, q := range []string{"kind=user&sort=name", "status=expiring&within=30", "status=bogus&q=", "within=0&status=expiring&q="} {
		res, err := noRedirect.Get(env.URL + "/keys?" + q)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusSeeOther {
			t.Errorf("%s: redirected to %s", q, res.Header.Get("Location"))
		}
	}
	// htmx asks for the fragment, and gets the canonical URL to push.
	p := b.get("/keys?q=&kind=user&fleet=&status=&within=7&sort=-created_at&per_page=50", "HX-Request", "true")
	if p.status != http.StatusOK || p.header.Get("HX-Push-Url") != "/keys?kind=user" {
		t.Errorf("htmx: %d, pushes %q", p.status, p.header.Get("HX-Push-Url"))
	}
}

// A view balena failed to list offers a Retry: a link to the same view
// (no JavaScript), which htmx loads in place of the results.
func TestAFailedLoadOffersRetry(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	env.Sim.SetFaults(balenasim.Faults{ErrorRate: 1, Routes: []string{"GET /v7/api_key"}})
	view := "/keys?kind=user&sort=name"
	for _, hx := range []bool{false, true} {
		var p page
		if hx {
			p = b.get(view, "HX-Request", "true")
		} else {
			p = b.get(view)
		}
		if p.status < 500 {
			t.Fatalf("htmx %v: status %d, want a 5xx", hx, p.status)
		}
		retry := p.doc.Find("#results a").FilterFunction(func(_ int, s *goquery.Selection) bool { return s.Text() == "Retry" })
		href, _ := retry.Attr("href")
		get, _ := retry.Attr("hx-get")
		target, _ := retry.Attr("hx-target")
		if href != view || get != view || target != "#results" {
			t.Errorf("htmx %v: Retry href=%q hx-get=%q hx-target=%q, want the view %q into #results", hx, href, get, target, view)
		}
	}
	env.Sim.SetFaults(balenasim.Faults{})
	if p := b.get(view); p.status != http.StatusOK || p.doc.Find("table.keys tbody tr").Length() == 0 {
		t.Errorf("after balena recovered: %d", p.status)
	}
}

// An htmx answer to a bad filter carries the field's message out of band,
// into the form htmx does not swap, and speaks of these filters; the same
// view opened as a link speaks of the link.
func TestABadFilterIsMarkedInPlaceByTheHTMXAnswer(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	view := "/keys?status=expiring&within=5000"
	p := b.get(view, "HX-Request", "true")
	if p.status != http.StatusBadRequest {
		t.Fatalf("status %d", p.status)
	}
	slot := p.doc.Find(`#fe-within[hx-swap-oob="innerHTML"]`)
	if got := slot.Find(".field-error").Text(); got != "Within must be a whole number of days from 1 to 3650." {
		t.Errorf("out-of-band message for within: %q", got)
	}
	if n := p.doc.Find(`[hx-swap-oob] .field-error`).Length(); n != 1 {
		t.Errorf("%d out-of-band messages, want 1", n)
	}
	if n := p.doc.Find(`#fe-q[hx-swap-oob]`).Length(); n != 1 {
		t.Error("a valid field's slot is not cleared out of band")
	}
	if got := strings.TrimSpace(p.doc.Find("#results .flash-warning").Text()); got != "Some of these filters are not valid and were ignored; see the marked fields." {
		t.Errorf("htmx banner %q", got)
	}
	if got, _ := p.doc.Find("#results").Attr("data-sort"); got != "-created_at" {
		t.Errorf("results name their sort %q", got)
	}
	for header, want := range map[string]string{
		"none":        "Some filters in this link are not valid and were ignored; see the marked fields.",
		"cross-site":  "Some filters in this link are not valid and were ignored; see the marked fields.",
		"same-origin": "Some of these filters are not valid and were ignored; see the marked fields.",
	} {
		p := b.get(view, "Sec-Fetch-Site", header)
		if got := strings.TrimSpace(p.doc.Find("#results .flash-warning").Text()); got != want {
			t.Errorf("Sec-Fetch-Site %s: banner %q", header, got)
		}
		if got := p.doc.Find("#filters #fe-within .field-error").Text(); got == "" {
			t.Errorf("Sec-Fetch-Site %s: no message at the field", header)
		}
	}
}

// The keys area is one place in the header: a key's page (even a gone
// key's), its forms, its confirmations and the bulk pages mark "Keys" as
// the current page, as the keys list does.
func TestTheHeaderMarksKeysOnEveryPageOfTheKeysArea(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	later := time.Now().AddDate(0, 2, 0)
	k := keyURL(seedKey(t, env, balenasim.KindProvisioning, "acme/plant-3", "marked-in-the-header", &later))
	list := b.get("/keys")
	bulk := formWithCSRF(list, "action", "expire")
	bulk["id"] = firstIDs(list, 2)
	pages := map[string]page{
		"keys":          list,
		"key page":      b.get(k),
		"gone key page": b.get("/keys/999999999"),
		"create form":   b.get("/keys/new"),
		"created key":   b.submit(b.get("/keys/new"), "form.keyform", map[string]string{"kind": "user", "name": "marked-too", "expiry": "30d"}),
		"edit form":     b.get(k + "/edit"),
		"actions":       b.get(k + "/actions"),
		"rotate form":   b.get(k + "/rotate"),
		"revoke":        b.get(k + "/revoke"),
		"expire":        b.get(k + "/expire"),
		"clear expiry":  b.get(k + "/expiry"),
		"bulk confirm":  b.post("/keys/bulk", bulk),
	}
	for name, p := range pages {
		if p.doc.Find("main h1").Length() == 0 {
			t.Errorf("%s: %d, no page (%s)", name, p.status, p.url)
			continue
		}
		if got := p.doc.Find(`header nav a[aria-current=page]`); got.Length() != 1 || got.Text() != "Keys" {
			t.Errorf("%s (%d): the header marks %q, want Keys", name, p.status, got.Text())
		}
	}
}
