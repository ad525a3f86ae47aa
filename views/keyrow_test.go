package views

import (
	"context"
	"html"
	"strings"
	"testing"

	"github.com/a-h/templ"
)

// The hand-written row escapes and sanitizes exactly as templ does, in
// the writer and in the whole row.
func FuzzRowTextEscapesLikeTempl(f *testing.F) {
	for _, s := range []string{"", "plain", `<img src=x onerror="alert('1')">`, "a & b", "&amp;", "ünïcode ⋯", "'\"<>&",
		"javascript:alert(1)", " JavaScript:x", "/keys/1/actions?return=%2Fkeys", "https://example.com/a:b", "mailto:a@b", "data:text/html,<b>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b strings.Builder
		h := newHTMLWriter(&b)
		h.text(s)
		if want := html.EscapeString(s); b.String() != want || h.err != nil {
			t.Errorf("text(%q) = %q, want %q (err %v)", s, b.String(), want, h.err)
		}

		k := KeyRow{ID: 1, Name: s, Label: s, Kind: s, Owner: s, OwnerDetail: s, Description: s, Created: s, CreatedISO: s,
			Expires: s, ExpiresISO: s, ExpiryState: s, ActionsURL: s, LastSeen: s, LastSeenISO: s, LastSeenState: s,
			URL: s, Replaces: 1, ReplacesURL: s, ReplacedBy: 2, ReplacedByURL: s}
		if got, want := renderString(t, KeyRowFragment(k, true)), renderString(t, keyRowReference(k, true)); got != want {
			t.Errorf("row with every field %q:\n got %s\nwant %s", s, got, want)
		}
	})
}

// goldenRows are ordinary rows and rows whose every field tries to break
// out of its place in the markup.
var goldenRows = map[string]KeyRow{
	"ordinary": {ID: 20007, Name: "ci-deploy", Label: "ci-deploy", Kind: "user", Owner: "you", OwnerDetail: "admin", Description: "Deploys from CI",
		Created: "3 days ago", CreatedISO: "2026-11-23T12:00:00Z", Expires: "in 4 days", ExpiresISO: "2026-11-30T12:00:00Z",
		ExpiryState: "active", ActionsURL: "/keys/20007/actions?return=%2Fkeys%3Fkind%3Duser%26sort%3Dname", LastSeen: "–", LastSeenState: "none",
		URL: "/keys/20007?return=%2Fkeys%3Fkind%3Duser%26sort%3Dname"},
	"device online": {ID: 19, Kind: "device", Owner: "gw-01", OwnerDetail: "4f2a9c1", Created: "1 year ago", CreatedISO: "2025-06-01T12:00:00Z",
		Expires: "never", ExpiryState: "never", ActionsURL: "/keys/19/actions", LastSeen: "Online", LastSeenState: "online"},
	"device silent": {ID: 21, Kind: "device", Owner: "sensor-a", Created: "6 months ago", CreatedISO: "2026-05-01T12:00:00Z",
		Expires: "never", ExpiryState: "never", ActionsURL: "/keys/21/actions", LastSeen: "1 month ago", LastSeenISO: "2026-10-16T12:00:00Z", LastSeenState: "seen"},
	"device never seen": {ID: 26, Kind: "device", Owner: "forklift-7", Expires: "never", ExpiryState: "never", ActionsURL: "/keys/26/actions",
		LastSeen: "Never", LastSeenState: "never"},
	"last seen breaking out": {ID: 27, Kind: "device", Owner: "x", ExpiryState: "never", Expires: "never", ActionsURL: "/keys/27/actions",
		LastSeen: "</time><script>alert(1)</script>", LastSeenISO: `2026" onmouseover="alert(1)`, LastSeenState: `seen" data-x='y'`},
	"never expires": {ID: 3, Name: "plant-3 prov", Kind: "provisioning", Owner: "acme/plant-3", Created: "2 months ago",
		CreatedISO: "2026-09-26T12:00:00Z", Expires: "never", ExpiryState: "never", ActionsURL: "/keys/3/actions"},
	"unnamed, empty fields": {ID: 0, Kind: "device", Label: "unnamed device key of ", ExpiryState: "expired"},
	"rotated": {ID: 14, Name: "ci-deploy", Kind: "user", Owner: "you", ExpiryState: "active", Expires: "in 29 days", URL: "/keys/14",
		Replaces: 7, ReplacesURL: "/keys/7", ReplacedBy: 123456, ReplacedByURL: "/keys/123456?return=%2Fkeys%3Fq%3Dci"},
	"lineage URLs unsafe": {ID: 15, Name: "k", Kind: "user", Owner: "you", ExpiryState: "never", Expires: "never",
		Replaces: 1, ReplacesURL: "javascript:alert(1)", ReplacedBy: 2, ReplacedByURL: `/keys/2?x="><script>alert(1)</script>`},
	"unnamed, linked": {ID: 13, Kind: "device", Label: "unnamed device key of gw-17", Owner: "gw-17", ExpiryState: "never", Expires: "never",
		ActionsURL: "/keys/13/actions", URL: "/keys/13"},
	"quotes and apostrophes": {ID: 4, Name: `say "hi" it's`, Label: `say "hi" it's`, Kind: `"user"`, Owner: `o'brien`, OwnerDetail: `"x" 'y'`,
		Description: `a "quoted" description's end`, Created: `"now"`, CreatedISO: `2026-11-26T12:00:00Z" onmouseover="alert(1)`,
		Expires: "'soon'", ExpiresISO: `' autofocus onfocus='alert(1)`, ExpiryState: `soon" data-x="y`, ActionsURL: "/keys/4/actions?q='a'"},
	"script": {ID: 5, Name: "<script>alert(1)</script>", Label: "\"><script>alert(1)</script>", Kind: "<b>user</b>", Owner: "</td><td>", OwnerDetail: "<img src=x onerror=alert(1)>",
		Description: "<!-- comment --><![CDATA[x]]>", Created: "</time>", CreatedISO: "<", Expires: "</span>", ExpiryState: "<",
		ActionsURL: "/keys/5/actions"},
	"ampersands": {ID: 6, Name: "R&D &amp; co", Label: "R&D &amp; co", Kind: "user", Owner: "&lt;owner&gt;", OwnerDetail: "&", Description: "a && b &#39;",
		Created: "&", CreatedISO: "&", Expires: "&", ExpiresISO: "&", ExpiryState: "&", ActionsURL: "/keys/6/actions?a=1&b=2"},
	"unicode": {ID: 7, Name: "ключ ⋯ 鍵 🔑", Kind: "user", Owner: "Zoë", OwnerDetail: "\u202eevil\u202c", Description: "tab\there\nnewline \u00a0nbsp \x00nul",
		Created: "hier", CreatedISO: "2026-11-26T12:00:00+01:00", Expires: "dans 3 jours", ExpiresISO: "2026-11-29T12:00:00+01:00",
		ExpiryState: "active", ActionsURL: "/keys/7/actions?return=%2Fkeys%3Fq%3D%E2%8B%AF"},
	"names like URLs": {ID: 8, Name: "https://evil.example/login", Kind: "user", Owner: "javascript:alert(1)", OwnerDetail: "//evil.example",
		Description: "data:text/html,<script>alert(1)</script>", Created: "x", ExpiryState: "never", Expires: "never", ActionsURL: "/keys/8/actions"},
	"javascript actions URL": {ID: 9, Name: "k", Kind: "user", Owner: "you", ExpiryState: "never", Expires: "never", ActionsURL: "javascript:alert(1)",
		URL: "javascript:alert(1)"},
	"quote and angle in actions URL": {ID: 10, Name: "k", Kind: "user", Owner: "you", ExpiryState: "never", Expires: "never",
		ActionsURL: `/keys/10/actions?x="><script>alert(1)</script>`, URL: `/keys/10?x="><script>alert(1)</script>`},
	"mixed-case scheme in actions URL": {ID: 11, Name: "k", Kind: "user", Owner: "you", ExpiryState: "never", Expires: "never",
		ActionsURL: "JaVaScRiPt:alert(1)"},
	"absolute actions URL": {ID: 12, Name: "k", Kind: "user", Owner: "you", ExpiryState: "soon", Expires: "in 1 day",
		ExpiresISO: "2026-11-27T12:00:00Z", ActionsURL: "https://portal.example/keys/12/actions?return=%2Fkeys"},
}

// The hand-written row writes exactly what its template would.
func TestKeyRowFragmentMatchesTemplate(t *testing.T) {
	for name, k := range goldenRows {
		for _, canChange := range []bool{false, true} {
			got := renderString(t, KeyRowFragment(k, canChange))
			if want := renderString(t, keyRowReference(k, canChange)); got != want {
				t.Errorf("%s, canChange %v:\n got %s\nwant %s", name, canChange, got, want)
			}
			if strings.Contains(got, "<script") || strings.Contains(got, "<img") {
				t.Errorf("%s, canChange %v: markup from data got through: %s", name, canChange, got)
			}
		}
	}
}

// An unsafe actions or key page URL never reaches an href; a safe one
// does, escaped. A name links to its key's page.
func TestKeyRowFragmentSanitizesActionsURL(t *testing.T) {
	for name, want := range map[string]string{
		"javascript actions URL":           `href="` + string(templ.FailedSanitizationURL) + `"`,
		"mixed-case scheme in actions URL": `href="` + string(templ.FailedSanitizationURL) + `"`,
		"quote and angle in actions URL":   `href="/keys/10/actions?x=&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`,
		"ampersands":                       `href="/keys/6/actions?a=1&amp;b=2"`,
		"ordinary":                         `<td class="name"><a href="/keys/20007?return=%2Fkeys%3Fkind%3Duser%26sort%3Dname">ci-deploy</a></td>`,
		"unnamed, linked":                  `<td class="name"><a href="/keys/13"><span class="muted">(unnamed)</span></a></td>`,
		"rotated": `<td class="name"><a href="/keys/14">ci-deploy</a> <span class="lineage">replaces <a href="/keys/7">#7</a></span>` +
			` <span class="lineage">replaced by <a href="/keys/123456?return=%2Fkeys%3Fq%3Dci">#123456</a></span></td>`,
		"lineage URLs unsafe":  `replaces <a href="` + string(templ.FailedSanitizationURL) + `">#1</a>`,
		"absolute actions URL": `href="https://portal.example/keys/12/actions?return=%2Fkeys"`,
	} {
		if got := renderString(t, KeyRowFragment(goldenRows[name], true)); !strings.Contains(got, want) {
			t.Errorf("%s: no %s in %s", name, want, got)
		}
	}
}

// The hand-written fleet options write exactly what their template would.
func TestFleetOptionsMatchTemplate(t *testing.T) {
	slugs := []string{"acme/plant-1", "acme/plant-3", `acme/"quoted"`, "acme/<script>alert(1)</script>", "R&D/lab", "o'brien/fleet", "zoë/⋯", ""}
	for _, selected := range []string{"", "acme/plant-3", "R&D/lab", "acme/<script>alert(1)</script>", "not listed"} {
		for _, list := range [][]string{nil, slugs[:1], slugs} {
			got := renderString(t, fleetOptions(list, selected))
			if want := renderString(t, fleetOptionsReference(list, selected)); got != want {
				t.Errorf("%d slugs, selected %q:\n got %s\nwant %s", len(list), selected, got, want)
			}
		}
	}
}

func renderString(t *testing.T, c templ.Component) string {
	t.Helper()
	var b strings.Builder
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
