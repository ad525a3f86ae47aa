package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/internal/watch"
	"github.com/keyportal/keyportal/internal/watch/watchtest"
)

// scrape reads /metrics as Prometheus would, into "name{labels}" → value.
func scrape(t *testing.T, env *portaltest.Env) map[string]float64 {
	t.Helper()
	res, err := http.Get(env.URL + env.Config.BasePath + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", res.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func keysMetric(kind, status string) string {
	return fmt.Sprintf(`keyportal_keys{kind=%q,status=%q}`, kind, status)
}

// standInCounts asks the stand-in itself, as the demo admin, how many of
// the keys the watcher watches each kind and status has at now: /$count
// with filters written from balena-api.md and the domain's StatusOf
// boundaries, not the watcher's own queries, so that both cannot be wrong
// the same way. The filter's syntax goes unescaped, as pinejs-client writes
// it, only its spaces escaped: balena parses $filter before URL-decoding
// (balena-api.md), so an escaped / or ( is a malformed URL.
func standInCounts(t *testing.T, env *portaltest.Env, now time.Time, warn time.Duration) map[apiclient.KeyKind]map[apikeys.Status]int {
	t.Helper()
	token, err := env.Sim.IssueToken(balenasim.DemoEmail, now)
	if err != nil {
		t.Fatal(err)
	}
	// balena keeps milliseconds; a window that is not whole milliseconds
	// would need rounding the literal cannot express.
	if warn%time.Millisecond != 0 {
		t.Fatalf("warning window %v is not whole milliseconds", warn)
	}
	at := func(t time.Time) string { return "datetime'" + t.UTC().Format("2006-01-02T15:04:05.000Z") + "'" }
	nowLit, edgeLit := at(now), at(now.Add(warn))
	// The demo admin's own user keys, and the keys of acme's fleets and of
	// their devices (watchtest.Watched).
	owners := map[apiclient.KeyKind]string{
		apiclient.KindUser:         "is_of__actor/any(a:a/is_of__user/any(u:u/username eq '" + balenasim.DemoUsername + "'))",
		apiclient.KindProvisioning: "is_of__actor/any(a:a/is_of__application/any(f:startswith(f/slug,'acme/')))",
		apiclient.KindDevice:       "is_of__actor/any(a:a/is_of__device/any(d:d/belongs_to__application/any(df:startswith(df/slug,'acme/'))))",
	}
	// StatusOf: never without expiry; expired at or before now; expiring
	// less than warn after now; active from now+warn on.
	statuses := map[apikeys.Status]string{
		apikeys.StatusActive:   "expiry_date ge " + edgeLit,
		apikeys.StatusExpiring: "(expiry_date gt " + nowLit + " and expiry_date lt " + edgeLit + ")",
		apikeys.StatusExpired:  "(expiry_date ne null and expiry_date le " + nowLit + ")",
		apikeys.StatusNever:    "expiry_date eq null",
	}
	out := map[apiclient.KeyKind]map[apikeys.Status]int{}
	for _, kind := range apikeys.Kinds {
		out[kind] = map[apikeys.Status]int{}
		for _, status := range apikeys.Statuses {
			filter := owners[kind] + " and " + statuses[status]
			req, err := http.NewRequest(http.MethodGet, env.SimURL+"/v7/api_key/$count?$filter="+strings.ReplaceAll(filter, " ", "%20"), nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(res.Body)
			res.Body.Close()
			var body struct {
				D *int `json:"d"`
			}
			if err == nil {
				err = json.Unmarshal(raw, &body)
			}
			if res.StatusCode != http.StatusOK || err != nil || body.D == nil {
				t.Fatalf("stand-in /$count?$filter=%s: %s %s", filter, res.Status, raw)
			}
			out[kind][status] = *body.D
		}
	}
	return out
}

func TestMetricsAreTheStandInsFiguresAtConstantCost(t *testing.T) {
	calls := map[string]int{}
	for _, dataset := range []string{"demo", "large"} {
		t.Run(dataset, func(t *testing.T) {
			clock := portaltest.NewClock(time.Now().UTC().Truncate(time.Second))
			env := portaltest.Start(t, portaltest.Options{Dataset: dataset, Clock: clock, Watch: true})
			m := scrape(t, env)
			if _, ok := m["keyportal_watch_last_success_timestamp_seconds"]; ok || m["keyportal_watch_errors_total"] != 0 {
				t.Errorf("before the first refresh: %v", m)
			}
			for _, step := range []time.Duration{0, 50 * time.Hour} {
				clock.Advance(step)
				env.Sim.ResetCounters()
				if err := env.Portal.Watcher().Refresh(context.Background()); err != nil {
					t.Fatal(err)
				}
				calls[dataset] = env.Sim.Counters().Total()
				want := watchtest.Expected(env.Sim, clock.Now(), env.Config.WatchWarn)
				counted := standInCounts(t, env, clock.Now(), env.Config.WatchWarn)
				m := scrape(t, env)
				for _, kind := range apikeys.Kinds {
					sum, total := 0.0, 0
					for _, status := range apikeys.Statuses {
						got := m[keysMetric(string(kind), string(status))]
						if int(got) != want.Keys[kind][status] {
							t.Errorf("%s: %v, want %d", keysMetric(string(kind), string(status)), got, want.Keys[kind][status])
						}
						if int(got) != counted[kind][status] {
							t.Errorf("%s: %v, but the stand-in's /$count says %d", keysMetric(string(kind), string(status)), got, counted[kind][status])
						}
						sum += got
						total += want.Keys[kind][status]
					}
					if int(sum) != total {
						t.Errorf("%s keys: the statuses add up to %v, want %d", kind, sum, total)
					}
					name := fmt.Sprintf(`keyportal_keys_next_expiry_timestamp_seconds{kind=%q}`, kind)
					if next, ok := want.NextExpiry[kind]; ok && m[name] != float64(next.UnixNano())/1e9 {
						t.Errorf("%s = %v, want %v", name, m[name], next)
					}
				}
				if got := m["keyportal_watch_last_success_timestamp_seconds"]; got != float64(clock.Now().Unix()) {
					t.Errorf("last success %v, want %v", got, clock.Now().Unix())
				}
			}
		})
	}
	if calls["demo"] != calls["large"] || calls["demo"] != watch.CallsPerRefresh {
		t.Errorf("balena calls per refresh: demo %d, large %d, want %d for both", calls["demo"], calls["large"], watch.CallsPerRefresh)
	}
}

func TestMetricsKeepTheLastFiguresWhenBalenaFails(t *testing.T) {
	clock := portaltest.NewClock(time.Now().UTC().Truncate(time.Second))
	env := portaltest.Start(t, portaltest.Options{Clock: clock, Watch: true})
	if err := env.Portal.Watcher().Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := scrape(t, env)
	clock.Advance(time.Hour)
	env.Sim.SetFaults(balenasim.Faults{ErrorRate: 1, Routes: []string{"GET /v7/api_key"}})
	if err := env.Portal.Watcher().Refresh(context.Background()); err == nil {
		t.Fatal("a refresh against a failing balena succeeded")
	}
	after := scrape(t, env)
	for _, kind := range apikeys.Kinds {
		for _, status := range apikeys.Statuses {
			if name := keysMetric(string(kind), string(status)); after[name] != before[name] {
				t.Errorf("%s changed from %v to %v on a failed refresh", name, before[name], after[name])
			}
		}
	}
	if after["keyportal_watch_errors_total"] != 1 {
		t.Errorf("keyportal_watch_errors_total = %v, want 1", after["keyportal_watch_errors_total"])
	}
	if after["keyportal_watch_last_success_timestamp_seconds"] != before["keyportal_watch_last_success_timestamp_seconds"] {
		t.Error("the last success moved on a failure")
	}
	if !env.Logs.Contains("figures_age=1h0m0s") {
		t.Error("the log does not say how old the kept figures are")
	}
	if after[`keyportal_balena_requests_total{code="503",endpoint="GET /v7/api_key/$count"}`]+
		after[`keyportal_balena_requests_total{code="500",endpoint="GET /v7/api_key/$count"}`]+
		after[`keyportal_balena_requests_total{code="502",endpoint="GET /v7/api_key/$count"}`] == 0 {
		t.Error("the failed balena calls are not counted by endpoint and code")
	}
}

// Under KEYPORTAL_BASE_PATH too: routes carry the base path, and a request
// outside it is unmatched like any other 404.
func TestMetricsNameRoutesAndEndpointsByTemplate(t *testing.T) {
	for _, base := range []string{"", "/kp"} {
		t.Run("base="+base, func(t *testing.T) { testMetricsByTemplate(t, base) })
	}
}

func testMetricsByTemplate(t *testing.T, base string) {
	env := portaltest.Start(t, portaltest.Options{Watch: true, BasePath: base})
	if err := env.Portal.Watcher().Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{base + "/healthz", base + "/keys/12345/edit", base + "/nowhere/999", "/outside/999"} {
		res, err := http.Get(env.URL + path + "?q=secret-search")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	m := scrape(t, env)
	for _, want := range []string{
		`keyportal_http_requests_total{code="200",route="` + base + `/healthz"}`,
		`keyportal_http_request_duration_seconds_count{route="` + base + `/healthz"}`,
		`keyportal_balena_requests_total{code="200",endpoint="GET /v7/api_key/$count"}`,
		`keyportal_balena_request_duration_seconds_count{endpoint="GET /v7/api_key"}`,
		`go_goroutines`,
	} {
		if m[want] == 0 {
			t.Errorf("no %s", want)
		}
	}
	if base != "" && m[`keyportal_http_requests_total{code="404",route="unmatched"}`] == 0 {
		t.Error("a request outside the base path is not counted as unmatched")
	}
	for name := range m {
		if strings.Contains(name, "12345") || strings.Contains(name, "999") || strings.Contains(name, "secret-search") {
			t.Errorf("a label holds an id or a query: %s", name)
		}
	}
}

func TestMetricsAccess(t *testing.T) {
	get := func(env *portaltest.Env, user, pass string, header ...string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, env.URL+"/metrics", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	cidr := func(s string) *net.IPNet { _, n, _ := net.ParseCIDR(s); return n }

	off := portaltest.Start(t, portaltest.Options{})
	if code := get(off, "", ""); code != http.StatusNotFound {
		t.Errorf("metrics off: %d, want 404", code)
	}

	elsewhere := portaltest.Start(t, portaltest.Options{Watch: true, Config: func(c *config.Config) {
		c.MetricsAllowedNetworks = []*net.IPNet{cidr("10.0.0.0/8")}
	}})
	if code := get(elsewhere, "", ""); code != http.StatusForbidden {
		t.Errorf("from an address outside the allowed networks: %d, want 403", code)
	}
	if code := get(elsewhere, "", "", "X-Forwarded-For", "10.1.2.3"); code != http.StatusForbidden {
		t.Errorf("with a forwarded address from an untrusted peer: %d, want 403", code)
	}

	proxied := portaltest.Start(t, portaltest.Options{Watch: true, Config: func(c *config.Config) {
		c.MetricsAllowedNetworks = []*net.IPNet{cidr("10.0.0.0/8")}
		c.TrustedProxies = []*net.IPNet{cidr("127.0.0.1/32")}
	}})
	if code := get(proxied, "", "", "X-Forwarded-For", "10.1.2.3"); code != http.StatusOK {
		t.Errorf("forwarded by a trusted proxy for an allowed client: %d, want 200", code)
	}
	if code := get(proxied, "", "", "X-Forwarded-For", "192.0.2.1"); code != http.StatusForbidden {
		t.Errorf("forwarded by a trusted proxy for another client: %d, want 403", code)
	}

	authed := portaltest.Start(t, portaltest.Options{Watch: true, Config: func(c *config.Config) {
		c.MetricsUsername, c.MetricsPassword = "prom", "s3cret"
	}})
	for _, tc := range []struct {
		user, pass string
		want       int
	}{{"", "", 401}, {"prom", "wrong", 401}, {"other", "s3cret", 401}, {"prom", "s3cret", 200}} {
		if code := get(authed, tc.user, tc.pass); code != tc.want {
			t.Errorf("basic auth %q/%q: %d, want %d", tc.user, tc.pass, code, tc.want)
		}
	}
}

func TestKeysPageSaysWhetherAlertsAreConfigured(t *testing.T) {
	for _, tc := range []struct {
		opts portaltest.Options
		want string
	}{
		{portaltest.Options{}, "Expiry alerts are not configured."},
		{portaltest.Options{Watch: true}, "Expiry alerts are on: keys are checked every 5 minutes and count as expiring 7 days before they expire."},
	} {
		_, b := signedIn(t, tc.opts)
		if got := strings.TrimSpace(b.get("/keys").doc.Find("p.alerts").Text()); got != tc.want {
			t.Errorf("watch %v: the keys page says %q, want %q", tc.opts.Watch, got, tc.want)
		}
	}
}

func TestKeysPageSaysWhenTheNextDigestGoesOutAndNotWhere(t *testing.T) {
	friday := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	_, b := signedIn(t, portaltest.Options{Watch: true, Clock: portaltest.NewClock(friday), Config: func(c *config.Config) {
		c.PublicURL = "https://keys.example.com"
		c.DigestWebhookURL = "https://hooks.example.com/services/T0/B0/hook-token"
		c.DigestSMTPURL, c.DigestEmailFrom, c.DigestEmailTo = "smtp://mailer:hunter2@mail.example.com:587", "keyportal@example.com", []string{"ops@example.com"}
	}})
	p := b.get("/keys")
	line := p.doc.Find("p.alerts")
	if got := strings.Join(strings.Fields(line.Text()), " "); got != "Expiry alerts are on: keys are checked every 5 minutes and count as expiring 7 days before they expire. The next digest goes out in 2 days." {
		t.Errorf("the keys page says %q", got)
	}
	// Weekdays at 08:00 UTC: Monday. The exact time is localised by app.js, as every time on the page.
	if at, _ := line.Find("time").Attr("datetime"); at != "2026-12-07T08:00:00Z" {
		t.Errorf("the next digest is at %q, want Monday 08:00 UTC", at)
	}
	for _, secret := range []string{"hooks.example.com", "hook-token", "mail.example.com", "hunter2", "ops@example.com"} {
		if strings.Contains(p.body, secret) {
			t.Errorf("the keys page shows the digest's destination (%s)", secret)
		}
	}
}
