package handlers_test

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/apikeys"
)

// silent reports whether the stand-in's key k is a device key whose device
// is offline and was last seen before day, or never: what seen_before
// promises.
func silent(k balenasim.KeyRecord, day time.Time) bool {
	return k.Kind == balenasim.KindDevice && !k.DeviceOnline && (k.DeviceLastSeen == nil || k.DeviceLastSeen.Before(day))
}

// rowIDs are the key ids of a page's rows, in order.
func rowIDs(p page) []string {
	var ids []string
	p.doc.Find("table.keys tbody tr").Each(func(_ int, s *goquery.Selection) { ids = append(ids, s.AttrOr("data-key-id", "")) })
	return ids
}

// seenBeforeCase is a view of silent devices' keys and the ids the
// stand-in's own records say it must list: the device keys admin sees
// (the view of every device key) whose device matches.
func seenBeforeCase(t *testing.T, env *portaltest.Env, b *browser, day time.Time) []string {
	t.Helper()
	visible := rowIDs(b.get("/keys?kind=device&per_page=100"))
	var want []string
	for _, k := range env.Sim.Keys() {
		id := strconv.FormatInt(k.ID, 10)
		if silent(k, day) && slices.Contains(visible, id) {
			want = append(want, id)
		}
	}
	if len(want) == 0 || len(want) == len(visible) {
		t.Fatalf("the demo should have both silent and live devices among %v", visible)
	}
	slices.Sort(want)
	return want
}

// /keys?seen_before=… lists exactly the device keys whose device was last
// seen before that day or never, alone or with other filters, and each
// row says when its device was last seen.
func TestSeenBeforeListsExactlyTheSilentDevicesKeys(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	for _, days := range []int{apikeys.StaleDays, 90, 3650} {
		day := apikeys.StaleSince(time.Now().AddDate(0, 0, apikeys.StaleDays-days))
		want := seenBeforeCase(t, env, b, day)
		param := day.Format(time.DateOnly)
		p := b.get("/keys?per_page=100&seen_before=" + param)
		got := rowIDs(p)
		slices.Sort(got)
		if p.status != http.StatusOK || !slices.Equal(got, want) {
			t.Errorf("seen_before=%s: %d, rows %v, want %v", param, p.status, got, want)
		}
		if v := p.doc.Find("#f-seen-before").AttrOr("value", ""); v != param {
			t.Errorf("seen_before=%s: the form shows %q", param, v)
		}
		p.doc.Find("table.keys tbody tr").Each(func(_ int, s *goquery.Selection) {
			cell := s.Find("td.last-seen")
			if text := strings.TrimSpace(cell.Text()); text != "Never" && cell.Find("time[datetime]").Length() != 1 {
				t.Errorf("seen_before=%s: row %s says %q", param, s.AttrOr("data-key-id", ""), text)
			}
		})
	}
	// With other filters: and.
	day := apikeys.StaleSince(time.Now())
	want := seenBeforeCase(t, env, b, day)
	unnamed := b.get("/keys?per_page=100&kind=device&status=never&sort=name&seen_before=" + day.Format(time.DateOnly))
	got := rowIDs(unnamed)
	slices.Sort(got)
	for _, id := range got {
		if !slices.Contains(want, id) {
			t.Errorf("with status=never: key %s is not a silent device's", id)
		}
	}
	if len(got) == 0 || unnamed.doc.Find("td.expires").Text() != strings.Repeat("never", len(got)) {
		t.Errorf("with status=never: %v, expiries %q", got, unnamed.doc.Find("td.expires").Text())
	}
}

// The Last seen column: "Online" for a device online now, a relative time
// with the exact moment for one that is not, "Never" for one never seen,
// "–" for the other kinds.
func TestLastSeenColumnSaysWhenTheDeviceWasSeen(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	records := map[string]balenasim.KeyRecord{}
	for _, k := range env.Sim.Keys() {
		records[strconv.FormatInt(k.ID, 10)] = k
	}
	p := b.get("/keys?per_page=100")
	states := map[string]int{}
	p.doc.Find("table.keys tbody tr").Each(func(_ int, s *goquery.Selection) {
		id := s.AttrOr("data-key-id", "")
		k := records[id]
		cell := s.Find("td.last-seen")
		text := strings.TrimSpace(cell.Text())
		var want string
		switch {
		case k.Kind != balenasim.KindDevice:
			want = "–"
		case k.DeviceOnline:
			want = "Online"
		case k.DeviceLastSeen == nil:
			want = "Never"
		default:
			at := cell.Find("time").AttrOr("datetime", "")
			if at != k.DeviceLastSeen.UTC().Format(time.RFC3339) || cell.Find("time").AttrOr("title", "") != at || !strings.HasSuffix(text, " ago") {
				t.Errorf("key %s: %q at %q, want a relative time at %s", id, text, at, k.DeviceLastSeen)
			}
			want = text
		}
		if text != want {
			t.Errorf("key %s (%s): last seen %q, want %q", id, k.Kind, text, want)
		}
		states[cell.AttrOr("data-state", "")]++
	})
	for _, state := range []string{"none", "online", "seen", "never"} {
		if states[state] == 0 {
			t.Errorf("no row in state %s: %v", state, states)
		}
	}
}

// A bad seen_before is named at its field, with a 400 and the rest of the
// view; so is one with kinds that leave device keys out.
func TestSeenBeforeBadValuesAreMarked(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	for _, q := range []string{"seen_before=yesterday", "seen_before=2025-02-30", "seen_before=2025-01-01&kind=user"} {
		p := b.get("/keys?" + q)
		if p.status != http.StatusBadRequest || p.doc.Find("#fe-seen_before .field-error").Length() != 1 ||
			p.doc.Find("table.keys tbody tr").Length() == 0 {
			t.Errorf("%s: %d, message %q", q, p.status, p.doc.Find("#fe-seen_before").Text())
		}
		if ex := b.get("/keys/export?format=csv&" + q); ex.status != http.StatusBadRequest && ex.status != http.StatusUnprocessableEntity {
			t.Errorf("export %s: %d", q, ex.status)
		}
	}
}

// The export of a seen_before view has the view's keys and when each
// device was last seen.
func TestExportOfSeenBeforeView(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	day := apikeys.StaleSince(time.Now())
	want := seenBeforeCase(t, env, b, day)
	view := b.get("/keys?seen_before=" + day.Format(time.DateOnly))
	href := view.doc.Find(".export a").First().AttrOr("href", "")
	if !strings.Contains(href, "seen_before="+day.Format(time.DateOnly)) {
		t.Fatalf("export link %q lacks the filter", href)
	}
	rows, err := csv.NewReader(strings.NewReader(b.get(href).body)).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows[1:] {
		got = append(got, r[0])
		if seen := r[8]; seen != "never" {
			if at, err := time.Parse(time.RFC3339, seen); err != nil || !at.Before(day) {
				t.Errorf("key %s last seen %q", r[0], seen)
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("export %v, want %v", got, want)
	}
}

// "All keys in this view" of a seen_before view revokes the silent
// devices' keys and nothing else.
func TestBulkRevokeOfASeenBeforeView(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	day := apikeys.StaleSince(time.Now())
	want := seenBeforeCase(t, env, b, day)
	before := len(env.Sim.Keys())
	viewURL := "/keys?per_page=10&seen_before=" + day.Format(time.DateOnly)
	view := b.get(viewURL)
	confirm := b.post("/keys/bulk", formWithCSRF(view, "action", "revoke", "all", "1", "return", viewURL))
	if h := confirm.doc.Find("h1").Text(); h != "Revoke "+formatCount(len(want))+" keys?" {
		t.Fatalf("confirmation %q", h)
	}
	done := b.submit(confirm, "form.actions", nil)
	if done.status != http.StatusOK || done.doc.Find(".flash-success").Length() != 1 {
		t.Fatalf("result %d %q", done.status, done.doc.Find("main").Text())
	}
	for _, k := range env.Sim.Keys() {
		if slices.Contains(want, strconv.FormatInt(k.ID, 10)) {
			t.Errorf("key %d of a silent device is still there", k.ID)
		}
	}
	if n := len(env.Sim.Keys()); n != before-len(want) {
		t.Errorf("%d keys left of %d, want %d revoked", n, before, len(want))
	}
}
