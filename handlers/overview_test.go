package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

// policySet sets a lifetime policy, so that the overview has every
// section.
func policySet(c *config.Config) { c.PolicyMaxLifetime = maxLife }

// viewTotal is how many keys a keys view says it holds.
func viewTotal(t *testing.T, p page) int {
	t.Helper()
	text := strings.TrimSpace(p.doc.Find("#results .count").Text())
	if text == "No keys" {
		return 0
	}
	m := regexp.MustCompile(`of ([0-9,]+) keys$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("%s: no total in %q", p.url, text)
	}
	n, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	return n
}

// Every number on the overview is a link to a keys view, and that view
// holds exactly that many keys: the table's counts, the chart's (its text
// alternative and its bars) and the sections', on both datasets.
func TestOverviewCountsAreTheViewsTheyLink(t *testing.T) {
	for _, dataset := range []string{"demo", "large"} {
		t.Run(dataset, func(t *testing.T) {
			// The stand-in and the portal share a still clock: the views
			// are read at the overview's moment.
			clock := portaltest.NewClock(time.Now().UTC().Truncate(time.Second))
			_, b := signedIn(t, portaltest.Options{Dataset: dataset, Clock: clock, Config: policySet})
			ov := b.get("/overview")
			if ov.status != http.StatusOK {
				t.Fatalf("overview: %d\n%s", ov.status, ov.body)
			}
			links := ov.doc.Find("main a[data-count]")
			if n := ov.doc.Find("table.counts").First().Find("a[data-count]").Length(); n != 15 {
				t.Errorf("the table has %d counts, want 3 kinds × 5 statuses", n)
			}
			if n := ov.doc.Find("#ov-chart-table tbody tr").Length(); n != 12 {
				t.Errorf("the chart's table has %d weeks, want 12", n)
			}
			counted := map[string]int{}
			nonzero := 0
			links.Each(func(_ int, a *goquery.Selection) {
				href, _ := a.Attr("href")
				want, _ := strconv.Atoi(a.AttrOr("data-count", ""))
				if want > 0 {
					nonzero++
				}
				counted[href] = want
				if got := viewTotal(t, b.get(href)); got != want {
					t.Errorf("%q (%s) says %d, its view holds %d", strings.TrimSpace(a.AttrOr("aria-label", a.Text())), href, want, got)
				}
			})
			for _, title := range []string{"Oldest keys that never expire", "Device keys of devices silent for 30 days or more", "Keys that break the lifetime policy"} {
				if ov.doc.Find("section h2").FilterFunction(func(_ int, h *goquery.Selection) bool { return h.Text() == title }).Length() != 1 {
					t.Errorf("no section %q", title)
				}
			}
			if nonzero < 10 {
				t.Errorf("only %d non-zero counts: the datasets should fill the overview", nonzero)
			}
			// Each bar of the chart is a link to a view the text alternative counts.
			bars := ov.doc.Find("figure.chart svg a")
			if bars.Length() == 0 {
				t.Error("the chart has no bars")
			}
			bars.Each(func(_ int, a *goquery.Selection) {
				href, _ := a.Attr("href")
				n, ok := counted[href]
				label := a.AttrOr("aria-label", "")
				if !ok || n == 0 || !strings.HasPrefix(label, strconv.Itoa(n)+" ") && !strings.HasPrefix(label, formatCount(n)+" ") {
					t.Errorf("bar %q links to %s, which the table counts %d (%v)", label, href, n, ok)
				}
			})
			// The oldest keys that never expire, oldest first, are the first rows of their view.
			section := ov.doc.Find("section").FilterFunction(func(_ int, s *goquery.Selection) bool {
				return s.Find("h2").Text() == "Oldest keys that never expire"
			})
			items := section.Find(".keylist li > a")
			if items.Length() != 5 {
				t.Fatalf("never-expiring list: %d keys, want 5", items.Length())
			}
			all := b.get(section.Find(".section-count a").AttrOr("href", ""))
			rows := all.doc.Find("table.keys tbody tr")
			sectionView := section.Find(".section-count a").AttrOr("href", "")
			items.Each(func(i int, a *goquery.Selection) {
				// Each key's link is its own page, which goes back to the
				// section's view.
				href := a.AttrOr("href", "")
				want := strings.TrimSpace(rows.Eq(i).Find("td.key-id").Text())
				if u, _ := url.Parse(href); u.Path != "/keys/"+strings.TrimPrefix(want, "#") || u.Query().Get("q") != "" {
					t.Errorf("never-expiring key %d (%q) links to %s, not the page of its view's row %d (%s)", i+1, a.Text(), href, i+1, want)
				}
				one := b.get(href)
				if one.status != http.StatusOK {
					t.Fatalf("key %q: its page is %d", a.Text(), one.status)
				}
				if got := strings.TrimSpace(one.doc.Find(".key-page dl.facts dd.mono").First().Text()); got != want {
					t.Errorf("key %q: its page shows key %q, want %q", a.Text(), got, want)
				}
				if back := one.doc.Find(".pagehead a").FilterFunction(func(_ int, l *goquery.Selection) bool { return l.Text() == "Back to keys" }).AttrOr("href", ""); back != sectionView {
					t.Errorf("key %q: its page goes back to %q, not the section's view %q", a.Text(), back, sectionView)
				}
			})
		})
	}
}

// The overview is one round trip at balena whatever the number of keys:
// at most 20 calls, the same on both datasets, asked for at once.
func TestOverviewIsOneRoundTripOfAtMost20Calls(t *testing.T) {
	calls := map[string]int{}
	for _, dataset := range []string{"demo", "large"} {
		env, b := signedIn(t, portaltest.Options{Dataset: dataset, Config: policySet})
		env.Sim.ResetCounters()
		// The wait bounds a failure only: a call sent after the other's
		// answer would have it wait in vain, for half of what a call may take.
		meet := env.Sim.Rendezvous(env.Config.UpstreamTimeout/2, "GET /v7/api_key", "GET /v7/api_key/$count")
		if p := b.get("/overview"); p.status != http.StatusOK {
			t.Fatalf("%s: overview %d", dataset, p.status)
		}
		c := env.Sim.Counters()
		calls[dataset] = c.Total()
		t.Logf("%s: %d calls: %v", dataset, c.Total(), c.ByRoute)
		if c.Total() > 20 {
			t.Errorf("%s: %d calls to balena, want at most 20: %v", dataset, c.Total(), c.ByRoute)
		}
		if !meet.Met() {
			t.Errorf("%s: the lists and the counts were asked one after the other", dataset)
		}
	}
	if calls["demo"] != calls["large"] {
		t.Errorf("calls depend on the number of keys: demo %d, large %d", calls["demo"], calls["large"])
	}
}

// On open-balena, where each count by kind needs the user's fleets and
// each count of silent devices' keys those devices, the overview reads
// each once per request: balenaCloud's 20 calls and these two reads.
func TestOverviewOnOpenBalenaReadsFleetsAndDevicesOncePerRequest(t *testing.T) {
	for _, dataset := range []string{"demo", "large"} {
		env, b := signedIn(t, portaltest.Options{Profile: balenasim.ProfileOpenBalena, Dataset: dataset, Config: policySet})
		b.get("/overview") // learns that actor is hidden, as any first page does
		for range 2 {
			env.Sim.ResetCounters()
			if p := b.get("/overview"); p.status != http.StatusOK {
				t.Fatalf("%s: overview %d, %q", dataset, p.status, flashText(p))
			}
			c := env.Sim.Counters()
			t.Logf("%s: %d calls: %v", dataset, c.Total(), c.ByRoute)
			if c.Total() > 22 {
				t.Errorf("%s: %d calls to balena, want at most 22: %v", dataset, c.Total(), c.ByRoute)
			}
			if n := c.Get("GET /v7/application"); n != 1 {
				t.Errorf("%s: the fleets were read %d times, want once", dataset, n)
			}
			if n := c.Get("GET /v7/device"); n != 1 {
				t.Errorf("%s: the silent devices were read %d times, want once", dataset, n)
			}
		}
	}
}

// When balena fails, the overview still answers: a page with a banner
// that says so, never a 500.
func TestOverviewSurvivesUpstreamFailures(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	env.Sim.SetFaults(balenasim.Faults{ErrorRate: 1, Routes: []string{"GET /v7/api_key"}})
	p := b.get("/overview")
	if p.status == http.StatusInternalServerError || p.status < 500 {
		t.Errorf("status %d, want a gateway error", p.status)
	}
	if banner := flashText(p); !strings.HasPrefix(banner, "Could not load the overview: ") || !strings.HasSuffix(banner, "Try again") {
		t.Errorf("banner %q", banner)
	}
	if p.doc.Find("table.counts").Length() != 0 {
		t.Error("counts shown although balena could not be read")
	}
	if p.doc.Find("header nav a[aria-current=page]").Text() != "Overview" {
		t.Error("the header does not mark the overview as the current page")
	}
	env.Sim.SetFaults(balenasim.Faults{})
	if p := b.get("/overview"); p.status != http.StatusOK || p.doc.Find("table.counts").Length() == 0 {
		t.Errorf("after the failure: %d", p.status)
	}
}

// The header links the keys page and the overview, marking the current one.
func TestHeaderLinksTheOverview(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	keys := b.get("/keys")
	if got := keys.doc.Find("header nav a[aria-current=page]").Text(); got != "Keys" {
		t.Errorf("keys page: current link %q", got)
	}
	href, ok := keys.doc.Find("header nav a").FilterFunction(func(_ int, a *goquery.Selection) bool { return a.Text() == "Overview" }).Attr("href")
	if !ok {
		t.Fatal("no Overview link in the header")
	}
	if ov := b.get(href); ov.status != 200 || ov.doc.Find("h1").Text() != "Overview" {
		t.Errorf("overview: %d %q", ov.status, ov.doc.Find("h1").Text())
	}
}

// On open-balena (actor cannot be read) the overview works too, and a
// section balena refuses says so in place while the rest stands: on
// large, more devices are silent than one request to balena may name.
func TestOverviewOnOpenBalenaAndASectionThatFails(t *testing.T) {
	for _, dataset := range []string{"demo", "large"} {
		_, b := signedIn(t, portaltest.Options{Profile: balenasim.ProfileOpenBalena, Dataset: dataset, Config: policySet})
		p := b.get("/overview")
		if p.status != http.StatusOK {
			t.Fatalf("%s: status %d, %q", dataset, p.status, flashText(p))
		}
		if n := p.doc.Find("table.counts").First().Find("a[data-count]").Length(); n != 15 {
			t.Errorf("%s: %d counts in the table, want 15", dataset, n)
		}
		p.doc.Find("main section").Each(func(_ int, s *goquery.Selection) {
			title := s.Find("h2").First().Text()
			link := s.Find(".section-count a[data-count]")
			warning := s.Find(".flash-warning")
			switch {
			case warning.Length() > 0:
				if !strings.HasPrefix(warning.Text(), "Could not read these keys: ") || warning.Find("a").AttrOr("href", "") == "" {
					t.Errorf("%s, %q: warning %q", dataset, title, warning.Text())
				}
			case link.Length() == 1:
				want, _ := strconv.Atoi(link.AttrOr("data-count", ""))
				if got := viewTotal(t, b.get(link.AttrOr("href", ""))); got != want {
					t.Errorf("%s, %q: says %d, its view holds %d", dataset, title, want, got)
				}
			case s.Find("table.counts, figure.chart").Length() == 0:
				t.Errorf("%s, %q: neither a count nor a warning", dataset, title)
			}
		})
	}
}
