package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyportal/keyportal/handlers/portaltest"
)

// Nothing a person types into a form or edits in a URL gets a 500: each
// odd value gets a page that says what is wrong, with a 4xx status.
func TestOddInputNeverGetsA500(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	keys := b.get("/keys")
	id := keys.doc.Find("tbody tr").First().AttrOr("data-key-id", "1")
	for _, path := range []string{
		"/keys?page=99999999999999999999", "/keys?per_page=-1", "/keys?sort=%00", "/keys?q=%00%01%02",
		"/keys?q=" + url.QueryEscape("') or (1 eq 1"), "/keys?q=%27%27%27", "/keys?fleet=a/b%27c", "/keys?within=1e9&status=expiring",
		"/keys?created_after=0000-01-01", "/keys?expires_before=9999-12-31", "/keys?kind=user&kind=user&kind=device&kind=",
		"/keys/99999999999999999999/edit", "/keys/1e100/rotate", "/keys/%2e%2e/edit", "/keys/" + id + "/edit?return=%2F%2Fevil.example",
		"/keys/export?format=csv&created_after=9999-12-31", "/keys/export?format=json&q=" + strings.Repeat("%ff", 50),
		"/keys/new?kind=%00", "/keys/" + id + "/row", "/signin?reason=%00&next=%00",
	} {
		if p := b.get(path); p.status >= 500 {
			t.Errorf("GET %s: %d", path, p.status)
		}
	}
	for _, q := range []string{"%00%01", url.QueryEscape("') or (1 eq 1"), strings.Repeat("%ff", 40), strings.Repeat("a", 500)} {
		if p := b.get("/keys/new/devices?device="+q, "HX-Request", "true"); p.status >= 500 {
			t.Errorf("device suggestions for %q: %d", q, p.status)
		}
	}
	forms := []url.Values{
		{"kind": {"device"}, "device": {strings.Repeat("a", 62)}, "expiry": {"30d"}},
		{"kind": {"user"}, "name": {"x"}, "expiry": {"custom"}, "expiry_date": {"9999-12-31"}},
		{"kind": {"user"}, "name": {"x"}, "expiry": {"custom"}, "expiry_date": {"0000-01-01"}},
		{"kind": {"provisioning"}, "fleet": {"acme/plant-3"}, "name": {strings.Repeat("é", 50)}, "expiry": {"never"}},
		{"kind": {"user"}, "name": {"\x00\x01"}, "expiry": {"1y"}},
	}
	for _, f := range forms {
		f.Set("_csrf", keys.doc.Find("input[name=_csrf]").First().AttrOr("value", ""))
		if p := b.post("/keys/new", f); p.status >= 500 {
			t.Errorf("POST /keys/new %v: %d %q", f, p.status, p.doc.Find(".flash").Text())
		}
	}
	csrf := keys.doc.Find("input[name=_csrf]").First().AttrOr("value", "")
	for _, post := range []struct {
		path string
		form url.Values
	}{
		{"/keys/bulk", url.Values{"action": {"expire"}, "id": {"99999999999999999999"}}},
		{"/keys/bulk", url.Values{"action": {"revoke"}, "all": {"1"}, "return": {"/keys?status=bogus"}}},
		{"/keys/" + id + "/expiry", url.Values{"expiry": {"custom"}, "expiry_date": {"tomorrow"}}},
		{"/keys/" + id + "/rotate", url.Values{"grace": {"1d"}, "expiry": {"custom"}, "expiry_date": {""}}},
		{"/keys/" + id + "/edit", url.Values{"name": {strings.Repeat("n", 500)}, "expiry": {"keep"}}},
		{"/keys/" + id + "/edit", url.Values{"name": {"ok"}, "expiry": {"nonsense"}}},
		{"/keys/new", url.Values{"kind": {"user"}, "name": {strings.Repeat("x", 70_000)}}},
	} {
		post.form.Set("_csrf", csrf)
		if p := b.post(post.path, post.form); p.status >= 500 {
			t.Errorf("POST %s %v: %d %q", post.path, post.form, p.status, p.doc.Find("main").Text())
		}
	}
	if p := b.post("/keys/new", url.Values{"kind": {"user"}, "name": {strings.Repeat("x", 70_000)}, "_csrf": {csrf}}); p.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a 70 KB form: %d, want 413", p.status)
	}
}
