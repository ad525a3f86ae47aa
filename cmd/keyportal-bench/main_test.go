package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/handlers/portaltest"
)

// TestMain lets the test binary play the bench's children, as the bench
// binary does.
func TestMain(m *testing.M) {
	if !playChild() {
		os.Exit(m.Run())
	}
}

// The bench still runs end to end against the current portal: a few
// requests per phase, every answer checked, nothing timed or written.
func TestQuickBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two processes and the large dataset")
	}
	// The run's limit is the test's own deadline, less a minute to stop
	// the children and report. A fixed 2 minutes timed the machine: the
	// children are this -race binary, and on a loaded 2-CPU machine the run
	// reached its last phase after 2 minutes and failed there ("audit
	// database: applying migrations: ... context deadline exceeded").
	limit := time.Hour
	if deadline, ok := t.Deadline(); ok {
		limit = time.Until(deadline) - time.Minute
	}
	var out strings.Builder
	if err := run(&out, "", true, "", limit); err != nil {
		t.Fatal(err)
	}
	// The watcher's section: calls per refresh for both datasets, and the memory beside it.
	for _, want := range []string{"## 8. The key watcher", "| `demo`  |", "| `large` |", "**Memory:** a portal with the watcher"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

// BenchmarkKeysView times a keys view in one process (stand-in, portal and
// client together; make bench separates them) and reports balena calls per
// view.
func BenchmarkKeysView(b *testing.B) {
	env, err := portaltest.New(portaltest.Options{Dataset: "demo"})
	if err != nil {
		b.Fatal(err)
	}
	defer env.Close()
	ctx := context.Background()
	u, err := signIn(ctx, env.URL)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		hx   bool
	}{{"page", false}, {"fragment", true}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			env.Sim.ResetCounters()
			for b.Loop() {
				if _, err := u.page(ctx, "/keys?kind=device&sort=name", c.hx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(env.Sim.Counters().Total())/float64(b.N), "calls/op")
		})
	}
}

// -h, --help and help print the usage on stdout and ask main to exit 0
// without measuring anything.
func TestHelpPrintsUsage(t *testing.T) {
	for _, h := range []string{"-h", "--help", "help"} {
		var out, errOut strings.Builder
		_, err := parseFlags([]string{h}, &out, &errOut)
		if !errors.Is(err, flag.ErrHelp) || !strings.HasPrefix(out.String(), "Usage: keyportal-bench") || !strings.Contains(out.String(), "-quick") || errOut.Len() > 0 {
			t.Errorf("keyportal-bench %s: err %v, stdout %q, stderr %q", h, err, out.String(), errOut.String())
		}
	}
	if o, err := parseFlags([]string{"-quick", "-out", ""}, io.Discard, io.Discard); err != nil || !o.quick || o.out != "" {
		t.Errorf("flags: %+v, %v", o, err)
	}
	if _, err := parseFlags([]string{"now"}, io.Discard, io.Discard); err == nil {
		t.Error("a stray argument was accepted")
	}
}
