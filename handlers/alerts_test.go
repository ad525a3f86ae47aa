package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

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

// The alert rules in docs/alerts.md load in Prometheus (as promtool check
// rules would say) and name only metrics and labels the portal exports, so
// that a renamed metric cannot leave an alert that never fires.
func TestAlertRulesInTheDocsLoadAndNameWhatThePortalExports(t *testing.T) {
	rules := alertRules(t)
	p := parser.NewParser(parser.Options{})
	groups, errs := rulefmt.Parse([]byte(rules), false, model.UTF8Validation, p, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Errorf("docs/alerts.md's rules: %v", err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}

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
