package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/internal/digest"
	"github.com/keyportal/keyportal/internal/digest/digesttest"
)

// alertRules is the rule file docs/alerts.md gives: its block that starts
// with "groups:", followed by the blocks of rules it says to add to it.
func alertRules(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../docs/alerts.md")
	if err != nil {
		t.Fatal(err)
	}
	var file strings.Builder
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		switch block := m[1]; {
		case strings.HasPrefix(block, "groups:"):
			file.WriteString(block)
		case strings.HasPrefix(block, "      - alert:"):
			if file.Len() == 0 {
				t.Fatal("docs/alerts.md gives rules to add before the rule file they go in")
			}
			file.WriteString("\n" + block)
		}
	}
	return file.String()
}

// loadRules loads a rule file as Prometheus does, failing t on any error.
func loadRules(t *testing.T, rules string, p parser.Parser) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.Parse([]byte(rules), false, model.UTF8Validation, p, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Errorf("docs/alerts.md's rules: %v", err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	return groups
}

// The alert rules in docs/alerts.md load in Prometheus (as promtool check
// rules would say) and name only metrics and labels the portal exports, so
// that a renamed metric cannot leave an alert that never fires.
func TestAlertRulesInTheDocsLoadAndNameWhatThePortalExports(t *testing.T) {
	rules := alertRules(t)
	p := parser.NewParser(parser.Options{})
	groups := loadRules(t, rules, p)

	// A portal with everything on, each metric with a value: a watcher
	// refresh and a digest sent.
	hook := digesttest.NewHook(t)
	monday := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	env := portaltest.Start(t, portaltest.Options{Watch: true, Clock: portaltest.NewClock(monday), Config: func(c *config.Config) {
		c.PublicURL, c.DigestWebhookURL = "https://keys.example.com", hook.URL
	}})
	if err := env.Portal.Watcher().Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out, err := env.Portal.Digest().SendSlot(context.Background(), monday); err != nil || out != digest.Sent {
		t.Fatalf("digest: %q, %v", out, err)
	}
	exported := map[string]map[string]bool{} // metric → its label names
	for series := range scrape(t, env) {
		name, labels, _ := strings.Cut(series, "{")
		if exported[name] == nil {
			exported[name] = map[string]bool{}
		}
		for _, l := range regexp.MustCompile(`(\w+)="`).FindAllStringSubmatch(labels, -1) {
			exported[name][l[1]] = true
		}
	}

	alerts := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts++
			expr, err := p.ParseExpr(r.Expr)
			if err != nil {
				t.Errorf("%s: %v", r.Alert, err)
				continue
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				vs, ok := n.(*parser.VectorSelector)
				if !ok || !strings.HasPrefix(vs.Name, "keyportal_") {
					return nil
				}
				labels, ok := exported[vs.Name]
				if !ok {
					t.Errorf("alert %s reads %s, which the portal does not export", r.Alert, vs.Name)
					return nil
				}
				for _, m := range vs.LabelMatchers {
					if m.Name != model.MetricNameLabel && !labels[m.Name] {
						t.Errorf("alert %s selects %s by %q, a label it does not have", r.Alert, vs.Name, m.Name)
					}
				}
				return nil
			})
		}
	}
	for _, want := range []string{"KeyportalDigestNotDelivered", "KeyportalDigestFailing", "KeyportalWatcherFailing"} {
		if !strings.Contains(rules, "alert: "+want+"\n") {
			t.Errorf("docs/alerts.md has no rule %s", want)
		}
	}
	if alerts < 6 {
		t.Errorf("docs/alerts.md's rule file has %d rules, want the 4 of the watcher and keys and the 2 of the digest", alerts)
	}
}

// The digest's rules in docs/alerts.md, evaluated by Prometheus' own
// engine on the series two replicas export, fire when the team stops
// getting the digest and not before: the replica that sent the last one
// may have restarted since (its figure is gone), the other never sent one.
func TestDigestAlertRulesFireWhenNoReplicaDelivers(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	expr := map[string]string{}
	for _, g := range loadRules(t, alertRules(t), p).Groups {
		for _, r := range g.Rules {
			expr[r.Alert] = r.Expr
		}
	}
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1_000_000, Timeout: time.Minute})
	t.Cleanup(func() { engine.Close() })
	// firing evaluates alert's expression at hour h of series sampled
	// hourly from time 0.
	firing := func(series, alert string, h int) []string {
		t.Helper()
		q, err := engine.NewInstantQuery(context.Background(), hourly(t, p, series), nil, expr[alert], time.Unix(int64(h)*3600, 0))
		if err != nil {
			t.Fatalf("%s: %v", alert, err)
		}
		v, err := q.Exec(context.Background()).Vector()
		if err != nil {
			t.Fatalf("%s: %v", alert, err)
		}
		var out []string
		for _, s := range v {
			out = append(out, s.Metric.String())
		}
		return out
	}
	// Both replicas have the default schedule (weekdays at 08:00: a gap of
	// up to 72 hours; the rule allows 73) configured for 120 hours. a sends
	// a digest at hour 1 and restarts at hour 3; b sends none.
	const configured = `
  keyportal_digest_next_timestamp_seconds{instance="a"} 0x121
  keyportal_digest_next_timestamp_seconds{instance="b"} 0x121
`
	delivered := configured + `  keyportal_digest_last_success_timestamp_seconds{instance="a"} 3600x3
`
	for _, tc := range []struct {
		series string
		hour   int
		fires  bool
	}{
		{delivered, 2, false},
		{delivered, 74, false}, // 73 hours after the digest, a's figure gone since hour 3
		{delivered, 75, true},
		{delivered, 110, true}, // no figure at all left in the 4 days looked at
		// b sends one at hour 50: the newest over the replicas counts.
		{delivered + `  keyportal_digest_last_success_timestamp_seconds{instance="b"} _x50 180000
`, 75, false},
		// No replica ever delivered: quiet until the schedule's gap has passed.
		{configured, 50, false},
		{configured, 80, true},
	} {
		if got := firing(tc.series, "KeyportalDigestNotDelivered", tc.hour); (len(got) > 0) != tc.fires {
			t.Errorf("KeyportalDigestNotDelivered at hour %d: firing %v, want %v, with%s", tc.hour, got, tc.fires, tc.series)
		}
	}

	// b sends the digest at hours 1 and 25: the webhook refuses the second.
	errors := `
  keyportal_digest_sent_total{instance="a",destination="webhook",result="error"} 0x49
  keyportal_digest_sent_total{instance="b",destination="webhook",result="error"} 0x25 1x24
  keyportal_digest_sent_total{instance="b",destination="email",result="error"} 0x49
`
	if got := firing(errors, "KeyportalDigestFailing", 20); len(got) != 0 {
		t.Errorf("KeyportalDigestFailing before any error: %v", got)
	}
	if got := firing(errors, "KeyportalDigestFailing", 26); len(got) != 1 || got[0] != `{destination="webhook"}` {
		t.Errorf("KeyportalDigestFailing after the webhook refused: %v, want the webhook alone", got)
	}
}

// hourly is a storage of the series given one a line as
// `name{labels} values`, each value taken at the next hour from time 0:
// a number, a number repeated n times (`0x121`), or none (`_`, `_x50`).
// (Prometheus' own promqltest would do, at the price of its whole TSDB and
// every cloud SDK its configuration pulls in.)
func hourly(t *testing.T, p parser.Parser, text string) storage.Queryable {
	t.Helper()
	var all []storage.Series
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		i := strings.LastIndexByte(line, '}') + 1
		lset, err := p.ParseMetric(strings.TrimSpace(line[:i]))
		if err != nil {
			t.Fatalf("series %q: %v", line, err)
		}
		var samples []chunks.Sample
		hour := 0
		for _, tok := range strings.Fields(line[i:]) {
			v, n, _ := strings.Cut(tok, "x")
			times := 1
			if n != "" {
				if times, err = strconv.Atoi(n); err != nil {
					t.Fatalf("series %q: %v", line, err)
				}
			}
			for range times {
				if v != "_" {
					f, err := strconv.ParseFloat(v, 64)
					if err != nil {
						t.Fatalf("series %q: %v", line, err)
					}
					samples = append(samples, floatSample{int64(hour) * 3600 * 1000, f})
				}
				hour++
			}
		}
		all = append(all, storage.NewListSeries(lset, samples))
	}
	return &storage.MockQueryable{MockQuerier: &storage.MockQuerier{
		SelectMockFunction: func(_ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
			var out []storage.Series
			for _, s := range all {
				if matchAll(ms, s.Labels()) {
					out = append(out, s)
				}
			}
			return &seriesSet{list: out, i: -1}
		}}}
}

func matchAll(ms []*labels.Matcher, l labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(l.Get(m.Name)) {
			return false
		}
	}
	return true
}

type seriesSet struct {
	list []storage.Series
	i    int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i < len(s.list) }
func (s *seriesSet) At() storage.Series                { return s.list[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

// floatSample is one sample of a float series, at t milliseconds.
type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                      { return s.t }
func (s floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                    { return s.f }
func (s floatSample) H() *histogram.Histogram       { return nil }
func (s floatSample) FH() *histogram.FloatHistogram { return nil }
func (s floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample           { return s }
