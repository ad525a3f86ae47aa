package watch_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/testclock"
	"github.com/keyportal/keyportal/internal/watch"
	"github.com/keyportal/keyportal/internal/watch/watchtest"
)

type env struct {
	sim   *balenasim.Sim
	clock *testclock.Clock
	w     *watch.Watcher
}

func start(t *testing.T, dataset string, warn time.Duration) *env {
	t.Helper()
	return startOn(t, "", dataset, warn)
}

func startOn(t *testing.T, profile balenasim.Profile, dataset string, warn time.Duration) *env {
	t.Helper()
	clk := testclock.New(time.Now().UTC().Truncate(time.Second))
	sim, err := balenasim.New(balenasim.Options{Profile: profile, Dataset: dataset, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := apiclient.New(apiclient.Options{BaseURL: srv.URL, Timeout: balenasim.CallTimeout(dataset)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sim.IssueToken(balenasim.DemoEmail, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &env{sim: sim, clock: clk, w: watch.New(c, tok, warn, clk.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))}
}

func check(t *testing.T, got, want watch.Figures) {
	t.Helper()
	for _, k := range apikeys.Kinds {
		for _, s := range apikeys.Statuses {
			if got.Keys[k][s] != want.Keys[k][s] {
				t.Errorf("%s %s: %d, want %d", k, s, got.Keys[k][s], want.Keys[k][s])
			}
		}
		if g, w := got.NextExpiry[k], want.NextExpiry[k]; !g.Equal(w) {
			t.Errorf("%s next expiry: %v, want %v", k, g, w)
		}
	}
	if !got.At.Equal(want.At) {
		t.Errorf("figures of %v, want %v", got.At, want.At)
	}
}

func TestFiguresAreTheStandInsCountsAtConstantCost(t *testing.T) {
	calls := map[string]int{}
	for _, dataset := range []string{"demo", "large"} {
		t.Run(dataset, func(t *testing.T) {
			e := start(t, dataset, 7*24*time.Hour)
			for _, step := range []time.Duration{0, 25 * time.Hour, 3 * 24 * time.Hour} { // within the session token's 7 days
				e.clock.Advance(step)
				e.sim.ResetCounters()
				if err := e.w.Refresh(context.Background()); err != nil {
					t.Fatal(err)
				}
				c := e.sim.Counters()
				calls[dataset] = c.Total()
				if c.Total() != watch.CallsPerRefresh || c.Get("GET /v7/api_key/$count") != watch.CallsPerRefresh-3 {
					t.Errorf("a refresh made %d calls (%v), want %d", c.Total(), c.ByRoute, watch.CallsPerRefresh)
				}
				st := e.w.State()
				want := watchtest.Expected(e.sim, e.clock.Now(), 7*24*time.Hour)
				check(t, st.Figures, want)
				total := 0
				for _, k := range apikeys.Kinds {
					for _, s := range apikeys.Statuses {
						total += st.Figures.Keys[k][s]
					}
				}
				if dataset == "large" && total != 20600 {
					t.Errorf("the statuses add up to %d keys, want admin's 20,600", total)
				}
			}
		})
	}
	if calls["demo"] != calls["large"] {
		t.Errorf("calls per refresh: demo %d, large %d", calls["demo"], calls["large"])
	}
	t.Logf("calls per refresh: demo %d, large %d", calls["demo"], calls["large"])
}

// On open-balena, where every count by kind needs the fleets, a refresh
// reads them once, and afresh for the next refresh. (Its figures are not
// checked here: watchtest expects balenaCloud's visibility.)
func TestOnOpenBalenaARefreshReadsTheFleetsOnce(t *testing.T) {
	e := startOn(t, balenasim.ProfileOpenBalena, "demo", 7*24*time.Hour)
	for i := range 3 {
		e.clock.Advance(time.Hour)
		e.sim.ResetCounters()
		if err := e.w.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		c := e.sim.Counters()
		t.Logf("refresh %d: %d calls: %v", i, c.Total(), c.ByRoute)
		if n := c.Get("GET /actor/v1/whoami"); i > 0 && n != 0 {
			t.Errorf("refresh %d asked who the watcher is %d times, known since the first", i, n)
		}
		if n := c.Get("GET /v7/application"); n != 1 {
			t.Errorf("refresh %d read the fleets %d times, want once", i, n)
		}
		if i > 0 && c.Total() > watch.CallsPerRefresh+3 {
			t.Errorf("refresh %d made %d calls (%v), want at most %d", i, c.Total(), c.ByRoute, watch.CallsPerRefresh+3)
		}
	}
}

func TestWarnWindowIsExact(t *testing.T) {
	// terraform expires in exactly 26 hours: active with a 26-hour window,
	// expiring with one a millisecond or a nanosecond longer.
	for _, warn := range []time.Duration{26 * time.Hour, 26*time.Hour + time.Nanosecond, 26*time.Hour + time.Millisecond} {
		e := start(t, "demo", warn)
		if err := e.w.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := watchtest.Expected(e.sim, e.clock.Now(), warn)
		check(t, e.w.State().Figures, want)
		if e.w.Warn() != warn {
			t.Errorf("Warn() = %v, want %v", e.w.Warn(), warn)
		}
	}
}

func TestBalenaFailingKeepsTheLastFigures(t *testing.T) {
	e := start(t, "demo", 7*24*time.Hour)
	if err := e.w.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	good := e.w.State()
	e.clock.Advance(time.Hour)
	e.sim.SetFaults(balenasim.Faults{ErrorRate: 1, Routes: []string{"GET /v7/api_key/$count"}})
	err := e.w.Refresh(context.Background())
	if err == nil {
		t.Fatal("a refresh against a failing balena succeeded")
	}
	st := e.w.State()
	if st.Errors != 1 || !st.OK || st.LastError == nil {
		t.Errorf("state after a failure: %+v", st)
	}
	check(t, st.Figures, good.Figures)

	e.sim.SetFaults(balenasim.Faults{})
	if err := e.w.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	st = e.w.State()
	if st.Errors != 1 || st.LastError != nil || !st.Figures.At.Equal(e.clock.Now()) {
		t.Errorf("state after recovery: %+v", st)
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	e := start(t, "demo", 7*24*time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() { e.w.Run(ctx, time.Hour); close(done) }()
	<-done // returns at once: a cancelled run neither fails nor blocks
	if st := e.w.State(); st.Errors != 0 {
		t.Errorf("a stopped run counted %d failures: %v", st.Errors, st.LastError)
	}
	if !errors.Is(e.w.Refresh(ctx), context.Canceled) {
		t.Error("Refresh with a cancelled context did not say so")
	}
}
