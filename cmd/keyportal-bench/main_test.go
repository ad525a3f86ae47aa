package main

import (
	"context"
	"io"
	"os"
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
	if err := run(io.Discard, "", true, "", 2*time.Minute); err != nil {
		t.Fatal(err)
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
