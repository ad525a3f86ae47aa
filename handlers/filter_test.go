package handlers

import (
	"net/url"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/views"
)

func TestParseKeyFilterRoundTrips(t *testing.T) {
	raw := "q=ci+deploy&kind=user&kind=device&fleet=acme%2Fplant-3&device=4f2a9c1&status=expiring&within=14" +
		"&created_after=2025-01-01&created_before=2025-01-31&expires_after=2025-02-01&expires_before=2025-12-31" +
		"&seen_before=2024-12-01&policy=breach&sort=name&page=3&per_page=25"
	v, _ := url.ParseQuery(raw)
	f := parseKeyFilter(v)
	if len(f.Errors) != 0 || !f.Breach {
		t.Fatalf("unexpected errors: %v (breach %v)", f.Errors, f.Breach)
	}
	q := f.Query()
	day := func(s string) *time.Time { d, _ := time.Parse(time.DateOnly, s); return &d }
	want := apiclient.KeyQuery{
		Kinds: []apiclient.KeyKind{apiclient.KindUser, apiclient.KindDevice}, Fleet: "acme/plant-3",
		Device: "4f2a9c1", Text: "ci deploy", Status: apiclient.StatusExpiring, WithinDays: 14,
		CreatedAfter: day("2025-01-01"), CreatedBefore: day("2025-02-01"),
		ExpiresAfter: day("2025-02-01"), ExpiresBefore: day("2026-01-01"),
		SeenBefore: day("2024-12-01"), // before the day: not the day after, as for "to" dates
		Sort:       apiclient.SortName, Desc: false, Top: 25, Skip: 50,
	}
	if !reflect.DeepEqual(q, want) {
		t.Errorf("query:\n got %+v\nwant %+v", q, want)
	}
	// The canonical URL parses back to the same view.
	again := parseKeyFilter(f.Values())
	if !reflect.DeepEqual(again.Query(), q) || !again.Breach {
		t.Errorf("round trip changed the query: %+v", again.Query())
	}
}

func TestParseKeyFilterDefaultsGiveShortURL(t *testing.T) {
	f := parseKeyFilter(url.Values{})
	if got := f.URL("/keys"); got != "/keys" {
		t.Errorf("default view URL = %q, want /keys", got)
	}
	q := f.Query()
	if q.Sort != apiclient.SortCreatedAt || !q.Desc || q.Top != 50 || q.Skip != 0 {
		t.Errorf("default query = %+v, want newest first, 50 a page", q)
	}
	all := parseKeyFilter(url.Values{"kind": {"user", "provisioning", "device"}})
	if all.Query().Kinds != nil {
		t.Errorf("all three kinds should mean no kind filter, got %v", all.Query().Kinds)
	}
}

func TestParseKeyFilterReportsEachBadValue(t *testing.T) {
	cases := []struct{ param, value string }{
		{"kind", "admin"}, {"policy", "broken"}, {"fleet", "not a slug"}, {"device", "gw\x01"}, {"status", "soon"},
		{"within", "0"}, {"within", "abc"}, {"created_after", "31/01/2025"}, {"expires_before", "2025-02-30"},
		{"sort", "key"}, {"per_page", "1000"}, {"page", "-1"}, {"page", "99999999999"},
		{"seen_before", "last week"}, {"seen_before", "2025-13-01"}, {"seen_before", "1999-12-31"},
	}
	for _, c := range cases {
		v := url.Values{c.param: {c.value}, "q": {"kept"}}
		f := parseKeyFilter(v)
		if f.Errors[c.param] == "" {
			t.Errorf("%s=%q: no message", c.param, c.value)
		}
		if f.Q != "kept" {
			t.Errorf("%s=%q: the valid rest of the view was lost", c.param, c.value)
		}
		if got := f.form(); c.param != "kind" && c.param != "page" && c.param != "sort" && c.param != "per_page" && formValue(got, c.param) != c.value {
			t.Errorf("%s=%q: form shows %q, want the bad value back", c.param, c.value, formValue(got, c.param))
		}
	}
}

func TestParseKeyFilterRangesInOrder(t *testing.T) {
	f := parseKeyFilter(url.Values{"created_after": {"2025-03-01"}, "created_before": {"2025-02-01"}})
	if f.Errors["created_before"] == "" || f.CreatedBefore != nil {
		t.Errorf("a reversed range should be reported and dropped: %v", f.Errors)
	}
	same := parseKeyFilter(url.Values{"created_after": {"2025-03-01"}, "created_before": {"2025-03-01"}})
	if len(same.Errors) != 0 {
		t.Errorf("a one-day range is valid: %v", same.Errors)
	}
}

// seen_before finds device keys only: with kinds that leave devices out
// it could find nothing, and says so at the field instead.
func TestSeenBeforeWantsDeviceKeys(t *testing.T) {
	f := parseKeyFilter(url.Values{"seen_before": {"2025-03-01"}, "kind": {"user", "provisioning"}})
	if f.Errors["seen_before"] == "" || f.SeenBefore != nil || f.form().SeenBefore != "2025-03-01" {
		t.Errorf("seen_before with user and provisioning kinds: errors %v, kept %v", f.Errors, f.SeenBefore)
	}
	for _, kinds := range [][]string{nil, {"device"}, {"user", "device"}} {
		f := parseKeyFilter(url.Values{"seen_before": {"2025-03-01"}, "kind": kinds})
		if len(f.Errors) != 0 || f.SeenBefore == nil || f.URL("/keys") == "/keys" {
			t.Errorf("kinds %v: errors %v, seen before %v, url %s", kinds, f.Errors, f.SeenBefore, f.URL("/keys"))
		}
	}
	if got := parseKeyFilter(url.Values{"seen_before": {"2025-03-01"}}).URL("/keys"); got != "/keys?seen_before=2025-03-01" {
		t.Errorf("url %s", got)
	}
}

func formValue(f views.KeyFilter, param string) string {
	return map[string]string{
		"fleet": f.Fleet, "device": f.Device, "status": f.Status, "within": f.Within,
		"created_after": f.CreatedAfter, "created_before": f.CreatedBefore,
		"expires_after": f.ExpiresAfter, "expires_before": f.ExpiresBefore, "per_page": f.PerPage,
		"seen_before": f.SeenBefore, "policy": f.Policy,
	}[param]
}

// FuzzParseKeyFilter: whatever a URL says, parsing never panics, the query
// it yields is one apiclient accepts, and the canonical URL of the valid
// part reads back to the same query.
func FuzzParseKeyFilter(f *testing.F) {
	for _, seed := range []string{
		"", "q=ci&kind=user&kind=device&sort=-name&page=2&per_page=25",
		"status=expiring&within=14&fleet=acme%2Fplant-3", "created_after=2025-01-01&created_before=2024-01-01",
		"page=0&per_page=7&sort=key&status=soon", "q=%ff%fe&device=zz", "kind=&kind=user&kind=user",
		"expires_before=9999-12-31&expires_after=0001-01-01", "q='%20or%201%20eq%201",
		"seen_before=2025-01-31&kind=device", "seen_before=2025-01-31&kind=user", "seen_before=9999-12-31",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		k := parseKeyFilter(v)
		q := k.Query()
		if q.Top <= 0 || q.Skip < 0 || !utf8.ValidString(q.Text) {
			t.Fatalf("bad query %+v from %q", q, raw)
		}
		again := parseKeyFilter(k.Values())
		if len(again.Errors) != 0 || !reflect.DeepEqual(again.Query(), q) {
			t.Fatalf("%q: canonical form %q reads back as %+v (errors %v), want %+v", raw, k.Values().Encode(), again.Query(), again.Errors, q)
		}
	})
}
