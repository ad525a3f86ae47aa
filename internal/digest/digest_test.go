package digest_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/digest"
	"github.com/keyportal/keyportal/internal/watch/watchtest"
)

// monday is a scheduled time of the default schedule (weekdays 08:00 UTC).
var monday = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

// seeded are keys made for a test, with secrets that must never show.
type seeded struct {
	soon, week, month, later, justExpired, longExpired balenasim.KeyRecord
}

func seed(t *testing.T, w *world) seeded {
	t.Helper()
	var fleet, device string
	for _, r := range w.sim.Keys() {
		if watchtest.Watched(r) && r.Kind == balenasim.KindDevice && device == "" {
			device, fleet = r.DeviceUUID, r.FleetSlug
		}
	}
	if device == "" {
		t.Fatal("the demo dataset has no device key in acme")
	}
	now := w.clock.Now()
	mk := func(kind balenasim.KeyKind, owner, name string, expiry time.Duration) balenasim.KeyRecord {
		t.Helper()
		e := now.Add(expiry)
		r, err := w.sim.CreateKey(balenasim.NewKey{Kind: kind, Owner: owner, Name: &name, ExpiryDate: &e,
			Secret: "SECRET-" + strconv.Itoa(int(expiry/time.Minute)) + "-" + strings.Repeat("x", 20)})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	return seeded{
		soon:        mk(balenasim.KindUser, balenasim.DemoEmail, "ci <deploy> & co @channel", 2*time.Hour),
		week:        mk(balenasim.KindProvisioning, fleet, "plant provisioning", 3*24*time.Hour),
		month:       mk(balenasim.KindDevice, device, "gateway key", 20*24*time.Hour),
		later:       mk(balenasim.KindUser, balenasim.DemoEmail, "far off", 40*24*time.Hour),
		justExpired: mk(balenasim.KindUser, balenasim.DemoEmail, "just expired", -time.Hour),
		longExpired: mk(balenasim.KindUser, balenasim.DemoEmail, "long expired", -100*time.Hour),
	}
}

func ids(s digest.Section) []int64 {
	var out []int64
	for _, g := range s.Groups {
		for _, k := range g.Keys {
			out = append(out, k.ID)
		}
	}
	slices.Sort(out)
	return out
}

func TestDigestListsEachKeyUnderItsNearestWindowAndThoseExpiredSince(t *testing.T) {
	w := newWorld(t, monday)
	keys := seed(t, w)
	since := monday.Add(-72 * time.Hour)
	d, err := w.builder().Build(context.Background(), monday, since)
	if err != nil {
		t.Fatal(err)
	}

	// What the stand-in holds, judged by the domain's rules.
	want := make([][]int64, len(within))
	var expired []int64
	for _, r := range w.sim.Keys() {
		if !watchtest.Watched(r) || r.ExpiryDate == nil {
			continue
		}
		k := apiclient.APIKey{ExpiryDate: r.ExpiryDate}
		if r.ExpiryDate.After(since) && apikeys.StatusOf(k, monday, 0) == apikeys.StatusExpired {
			expired = append(expired, r.ID)
		}
		for i, win := range within {
			if apikeys.StatusOf(k, monday, win) == apikeys.StatusExpiring {
				want[i] = append(want[i], r.ID)
				break
			}
		}
	}
	for i, win := range d.Windows {
		if win.Within != within[i] || !slices.Equal(ids(win.Section), want[i]) || win.Total != len(want[i]) {
			t.Errorf("within %s: %v (total %d), want %v", win.Within, ids(win.Section), win.Total, want[i])
		}
	}
	if !slices.Equal(ids(d.Expired), expired) {
		t.Errorf("expired since: %v, want %v", ids(d.Expired), expired)
	}
	for _, c := range []struct {
		key  balenasim.KeyRecord
		in   digest.Section
		kind apiclient.KeyKind
	}{{keys.soon, d.Windows[0].Section, apiclient.KindUser}, {keys.week, d.Windows[1].Section, apiclient.KindProvisioning},
		{keys.month, d.Windows[2].Section, apiclient.KindDevice}, {keys.justExpired, d.Expired, apiclient.KindUser}} {
		found := false
		for _, g := range c.in.Groups {
			for _, e := range g.Keys {
				if e.ID != c.key.ID {
					continue
				}
				found = true
				wantFleet := c.key.FleetSlug
				if c.kind == apiclient.KindUser {
					wantFleet = ""
				}
				if g.Kind != c.kind || g.Fleet != wantFleet || e.Title != *c.key.Name || !e.Expires.Equal(*c.key.ExpiryDate) ||
					e.Link != keysURL+"/"+strconv.FormatInt(c.key.ID, 10) {
					t.Errorf("%s: in group %s/%q as %+v", *c.key.Name, g.Kind, g.Fleet, e)
				}
				link, err := url.Parse(g.Link)
				if err != nil || !strings.HasPrefix(g.Link, keysURL+"?") || link.Query().Get("kind") != string(c.kind) || link.Query().Get("fleet") != wantFleet {
					t.Errorf("%s: group link %s", *c.key.Name, g.Link)
				}
			}
		}
		if !found {
			t.Errorf("%s is not in its section", *c.key.Name)
		}
	}
	for _, e := range slices.Concat(ids(d.Windows[0].Section), ids(d.Windows[1].Section), ids(d.Windows[2].Section), ids(d.Expired)) {
		if e == keys.later.ID || e == keys.longExpired.ID {
			t.Errorf("key %d is listed but is outside every window", e)
		}
	}
	if link := d.Windows[1].Groups[0].Link; !strings.Contains(link, "status=expiring") || !strings.Contains(link, "sort=expiry_date") {
		t.Errorf("a week's group links to %s, want the expiring view soonest first", link)
	}

	text, html := d.Text(time.UTC), d.HTML(time.UTC)
	data, _ := json.Marshal(d.Data())
	contains(t, "text", text, "ci <deploy> & co", "owner admin", "expires Mon 30 Nov 2026 10:00 UTC", "Expiring within 1 day",
		"Expiring in 1 day to 7 days", "Expiring in 7 days to 30 days", "Expired since Fri 27 Nov 2026 08:00 UTC", "just expired", keysURL+"/")
	contains(t, "HTML", html, "ci &lt;deploy&gt; &amp; co", `<a href="`+keysURL+`/`)
	for name, out := range map[string]string{"text": text, "HTML": html, "JSON": string(data)} {
		if strings.Contains(out, "SECRET-") {
			t.Errorf("the %s shows a key's secret", name)
		}
	}
	if strings.Contains(html, "<deploy>") {
		t.Error("the HTML shows a key's name unescaped")
	}
}
