package main

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
)

// overviewPolicy is the lifetime policy the overview's portals run with,
// as make demo's does: it adds the policy's section, the overview's
// costliest shape.
const overviewPolicy = "90d"

// 7. The overview: its balena calls, and the page against its slowest
// call, on both datasets.
func (b *bench) overview() {
	r := b.rep
	fmt.Fprintf(r, "## 7. The overview\n\n")
	r.para("`/overview` as the demo admin, with a lifetime policy set (KEYPORTAL_POLICY_MAX_LIFETIME=%s, as `make demo` "+
		"runs it: every section shows), on a stand-in of each dataset and a portal of its own. For each page the stand-in "+
		"counts the calls and times each one from its start to its answer; *page ÷ slowest* divides the page's time, "+
		"as the browser waits for it, by the slowest call of that same page, then takes the median and the worst of those "+
		"ratios: 1.0 would be a page that costs nothing but its slowest call, which is what calls made all at once allow. "+
		"*at once*: the most calls in flight together. The same limit is asserted, without timing, by "+
		"`handlers/overview_test.go`.", overviewPolicy)
	n0, n50 := 30, 10
	if b.n == smoke {
		n0, n50 = 2, 1
	}
	demo, err := startChild("sim", datasetEnv+"=demo")
	b.check(err)
	defer demo.stop()
	var rows [][]string
	worst, parallel := 0, true
	for _, ds := range []struct {
		name string
		sim  *child
	}{{"demo", demo}, {"large", b.sim}} {
		if b.ctx.Err() != nil {
			break
		}
		progress("the overview, dataset " + ds.name)
		portal, err := startChild("portal", simURLEnv+"="+ds.sim.URL, policyEnv+"="+overviewPolicy)
		b.check(err)
		u, err := signIn(b.ctx, portal.URL)
		b.check(err)
		for _, phase := range []struct {
			added time.Duration
			n     int
		}{{0, n0}, {50 * time.Millisecond, n50}} {
			ds.sim.latency(phase.added)
			for i := 0; i < b.n.warm && b.ctx.Err() == nil; i++ {
				b.overviewPage(u)
			}
			var page, slowest sample
			var ratios []float64
			calls, inFlight := 0, 0
			for i := 0; i < phase.n && b.ctx.Err() == nil; i++ {
				ds.sim.reset()
				d := b.overviewPage(u)
				c := ds.sim.counters()
				s := slowestCall(c)
				page, slowest = append(page, d), append(slowest, s)
				if s > 0 {
					ratios = append(ratios, float64(d)/float64(s))
				}
				calls, inFlight = max(calls, c.Total()), max(inFlight, c.MaxInFlight)
				if phase.added > 0 && c.MaxInFlight != c.Total() {
					parallel = false
				}
			}
			worst = max(worst, calls)
			rows = append(rows, []string{ds.name, ms(phase.added), strconv.Itoa(len(page)), strconv.Itoa(calls), strconv.Itoa(inFlight),
				ms(page.pct(50)), ms(slowest.pct(50)), fmt.Sprintf("%.2f× / %.2f×", median(ratios), maxOf(ratios))})
		}
		ds.sim.latency(0)
		portal.stop()
	}
	r.table([]string{"dataset", "added", "n", "calls", "at once", "page p50", "slowest call p50", "page ÷ slowest: median / worst"}, rows)
	r.verdict("overview ≤ 20 balena calls, demo and large, all at once", fmt.Sprintf("at most %d, all at once: %s", worst, yes(parallel)),
		worst > 0 && worst <= 20 && parallel)
}

// overviewPage times one overview, which must answer 200.
func (b *bench) overviewPage(u *browser) time.Duration { return b.timePage(u, "/overview", false) }

// slowestCall is the longest the stand-in took over one call among c's.
func slowestCall(c balenasim.Counters) time.Duration {
	var d time.Duration
	for _, s := range c.Spans {
		d = max(d, s.End.Sub(s.Start))
	}
	return d
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	c := slices.Clone(xs)
	slices.Sort(c)
	return c[len(c)/2]
}

func maxOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return slices.Max(xs)
}
