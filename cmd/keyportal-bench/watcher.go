package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/internal/watch"
)

// watchTokenEnv hands the portal child a credential to watch keys with.
const watchTokenEnv = "KEYPORTAL_BENCH_WATCH_TOKEN"

// refreshes is how many watcher refreshes each figure is taken over.
const refreshes = 10

// 7. The key watcher: what one refresh costs balena on the demo and the
// large dataset (the same: counts, not lists), and what a portal watching
// the large dataset holds in memory beside one that does not.
func (b *bench) watcher(idle procStats) {
	r := b.rep
	fmt.Fprintf(r, "## 8. The key watcher\n\n")
	r.para("Balena calls per watcher refresh, counted by the stand-in over %d refreshes as the demo admin: `demo` in the "+
		"bench's own process, `large` in the stand-in's child. The watcher counts keys through `/$count` and reads one key "+
		"per kind, so its cost does not grow with the keys.", refreshes)

	// demo: a stand-in of its own.
	sim, err := balenasim.New(balenasim.Options{Dataset: "demo"})
	must(err)
	srv := httptest.NewServer(sim)
	defer srv.Close()
	tok, err := sim.IssueToken(balenasim.DemoEmail, time.Now())
	must(err)
	demoKeys, demoCalls, demoTime := b.refreshCalls(srv.URL, tok, sim.ResetCounters, func() int { return sim.Counters().Total() })
	largeKeys, largeCalls, largeTime := b.refreshCalls(b.sim.URL, b.direct.token, b.sim.reset, func() int { return b.sim.counters().Total() })
	r.table([]string{"dataset", "keys watched", "balena calls per refresh", "time per refresh"}, [][]string{
		{"`demo`", fmt.Sprint(demoKeys), fmt.Sprintf("%.1f", demoCalls), ms(demoTime)},
		{"`large`", fmt.Sprint(largeKeys), fmt.Sprintf("%.1f", largeCalls), ms(largeTime)},
	})
	r.verdict("watcher calls per refresh constant (demo = large)", fmt.Sprintf("%.1f and %.1f", demoCalls, largeCalls),
		demoCalls == largeCalls && demoCalls == watch.CallsPerRefresh)

	// RSS: a fresh portal watching the large dataset against the fresh portal of section 3 before any request.
	progress("the key watcher: memory")
	p, err := startChild("portal", simURLEnv+"="+b.sim.URL, watchTokenEnv+"="+b.direct.token)
	must(err)
	defer p.stop()
	for range refreshes {
		must(p.call(http.MethodPost, "/watch", nil))
	}
	must(p.call(http.MethodPost, "/gc", nil))
	on := p.stats()
	r.para("**Memory:** a portal with the watcher (and metrics) on, after %d refreshes of the `large` dataset, resident set "+
		"**%s** (peak %s, heap in use %s, %d goroutines), against **%s** for a fresh portal without it: %s.",
		refreshes, mb(on.RSS), mb(on.HWM), mb(int64(on.HeapInuse)), on.Goroutines, mb(idle.RSS), ratio(float64(on.RSS), float64(idle.RSS)))
	r.verdict("RSS < 60 MB with the watcher on", mb(on.RSS), on.RSS < 60<<20)
}

// refreshCalls refreshes a watcher reading apiURL as token and returns the
// keys it watches, and the balena calls and the time per refresh.
func (b *bench) refreshCalls(apiURL, token string, reset func(), total func() int) (int, float64, time.Duration) {
	c, err := apiclient.New(apiclient.Options{BaseURL: apiURL})
	must(err)
	w := watch.New(c, token, 7*24*time.Hour, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	must(w.Refresh(b.ctx)) // learns what it may read first, as a portal does once
	keys := 0
	for _, byStatus := range w.State().Figures.Keys {
		for _, n := range byStatus {
			keys += n
		}
	}
	reset()
	start := time.Now()
	for range refreshes {
		must(w.Refresh(b.ctx))
	}
	took := time.Since(start)
	return keys, float64(total()) / refreshes, took / refreshes
}
