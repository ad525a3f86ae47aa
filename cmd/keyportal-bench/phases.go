package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/keyportal/keyportal/apiclient"
)

const (
	routeList  = "GET /v7/api_key"
	routeCount = "GET /v7/api_key/$count"
)

// 1. Latency against the limit: the direct call, the full page and the
// fragment, interleaved so that any drift hits all three alike.
func (b *bench) latency() {
	r := b.rep
	fmt.Fprintf(r, "## 1. Latency against the limit\n\n")
	r.para("One browser, one request at a time, view `/keys?%s` (50 rows of about 300). (a) is the baseline; "+
		"(b) the full page, signed in; (c) the htmx fragment (`HX-Request: true`). The three are interleaved. "+
		"The stand-in adds a fixed delay to every request it answers.", mainView.query)
	var rows [][]string
	for _, phase := range []struct {
		added time.Duration
		n     int
	}{{0, b.n.lat0}, {50 * time.Millisecond, b.n.lat50}} {
		progress(fmt.Sprintf("latency, %v added, %d requests of each kind", phase.added, phase.n))
		b.sim.latency(phase.added)
		var a, page, frag sample
		ops := []func(){
			func() { a = append(a, b.timeDirect(mainView.q)) },
			func() { page = append(page, b.timePage(b.user, mainView.path(), false)) },
			func() { frag = append(frag, b.timePage(b.user, mainView.path(), true)) },
		}
		for i := 0; i < b.n.warm; i++ {
			for _, op := range ops {
				op()
			}
		}
		a, page, frag = nil, nil, nil
		for i := 0; i < phase.n && b.ctx.Err() == nil; i++ {
			for j := range ops {
				ops[(i+j)%len(ops)]()
			}
		}
		added := ms(phase.added)
		rows = append(rows,
			[]string{added, "(a) direct ListKeys", strconv.Itoa(len(a)), ms(a.pct(50)), ms(a.pct(99)), "1.00×", "1.00×"},
			[]string{added, "(b) full page", strconv.Itoa(len(page)), ms(page.pct(50)), ms(page.pct(99)),
				ratio(float64(page.pct(50)), float64(a.pct(50))), ratio(float64(page.pct(99)), float64(a.pct(99)))},
			[]string{added, "(c) htmx fragment", strconv.Itoa(len(frag)), ms(frag.pct(50)), ms(frag.pct(99)),
				ratio(float64(frag.pct(50)), float64(a.pct(50))), ratio(float64(frag.pct(99)), float64(a.pct(99)))})
		if phase.added > 0 {
			pb, pc := float64(page.pct(50))/float64(a.pct(50)), float64(frag.pct(50))/float64(a.pct(50))
			r.verdict("(b)/(a) at 50 ms ≤ 1.1 (p50)", fmt.Sprintf("%.2f (p99 %s)", pb, ratio(float64(page.pct(99)), float64(a.pct(99)))), pb <= 1.1)
			r.verdict("(c)/(a) at 50 ms ≤ 1.1 (p50)", fmt.Sprintf("%.2f (p99 %s)", pc, ratio(float64(frag.pct(99)), float64(a.pct(99)))), pc <= 1.1)
		}
	}
	b.sim.latency(0)
	r.table([]string{"added", "request", "n", "p50", "p99", "p50 ÷ (a)", "p99 ÷ (a)"}, rows)
}

func (b *bench) timeDirect(q apiclient.KeyQuery) time.Duration {
	_, d, err := b.direct.list(b.ctx, q)
	b.check(err)
	return d
}

func (b *bench) timePage(u *browser, path string, hx bool) time.Duration {
	res, err := u.page(b.ctx, path, hx)
	b.check(err)
	return res.duration
}

// check fails the run on an error, except the one of running out of time.
func (b *bench) check(err error) {
	if err != nil && !(isContextErr(err) && b.ctx.Err() != nil) {
		must(err)
	}
}

// 2. Upstream calls per view, from the stand-in's counters.
func (b *bench) upstreamCalls() {
	r := b.rep
	fmt.Fprintf(r, "## 2. Upstream calls per view\n\n")
	r.para("One view at a time, counted by the stand-in (which adds 50 ms to each request here, so that calls made " +
		"at once are seen to overlap). *calls*: requests balena got for the view; *at once*: the most in flight together " +
		"(equal to calls when all ran in parallel); *new conns*: TCP connections the portal opened for the view " +
		"(0 when it reused its pool). The same counts are asserted, without timing, by `handlers/upstream_calls_test.go`.")
	progress("upstream calls per view")
	b.sim.latency(50 * time.Millisecond)
	defer b.sim.latency(0)
	filters := []string{"", "kind=user&status=active&sort=name", "kind=device", "q=tango", "fleet=acme/fleet-007",
		"status=expiring&within=30&sort=expiry_date", "kind=provisioning&created_after=2025-01-01"}
	var rows [][]string
	worstFull, worstFrag, allParallel := 0, 0, true
	for _, f := range filters {
		for _, size := range []int{10, 50, 100} {
			path := "/keys?per_page=" + strconv.Itoa(size)
			if f != "" {
				path += "&" + f
			}
			row := []string{"`" + f + "`", strconv.Itoa(size)}
			for _, hx := range []bool{false, true} {
				if b.ctx.Err() != nil {
					break
				}
				b.sim.reset()
				b.timePage(b.user, path, hx)
				c := b.sim.counters()
				conns := b.sim.stats().Conns
				calls := c.Total()
				parallel := c.Overlapped(routeList, routeCount) && c.MaxInFlight == calls
				allParallel = allParallel && parallel
				if hx {
					worstFrag = max(worstFrag, calls)
				} else {
					worstFull = max(worstFull, calls)
				}
				row = append(row, fmt.Sprintf("%d / %d / %d", calls, c.MaxInFlight, conns))
			}
			rows = append(rows, row)
		}
	}
	r.table([]string{"filter", "per page", "full page: calls / at once / new conns", "fragment: calls / at once / new conns"}, rows)
	r.verdict("≤ 3 calls per full page, all in parallel", fmt.Sprintf("at most %d, parallel: %s", worstFull, yes(allParallel)), worstFull <= 3 && allParallel)
	r.verdict("≤ 2 calls per fragment, in parallel", fmt.Sprintf("at most %d", worstFrag), worstFrag <= 2 && allParallel)
}

// loadResult is one throughput run.
type loadResult struct {
	pages          int
	errors         int
	elapsed        time.Duration
	lat            sample
	portal, sim    procStats // deltas
	self           time.Duration
	upstreamCalls  int
	upstreamByPage float64
}

// load runs op from conc workers until the run's time or request budget is
// spent, and reads what it cost each process.
func (b *bench) load(conc int, op func(ctx context.Context, worker int) (time.Duration, error)) loadResult {
	// Requests in flight at the end are let finish, so that the stand-in's
	// counters divide evenly by the pages.
	deadline := time.Now().Add(b.n.loadFor)
	ctx := b.ctx
	b.sim.reset()
	p0, s0, c0 := b.portal.stats(), b.sim.stats(), selfCPU()
	var (
		mu     sync.Mutex
		res    loadResult
		issued atomic.Int64
		wg     sync.WaitGroup
	)
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat sample
			errs := 0
			for ctx.Err() == nil && time.Now().Before(deadline) && issued.Add(1) <= int64(b.n.loadMax) {
				d, err := op(ctx, w)
				switch {
				case err == nil:
					lat = append(lat, d)
				case ctx.Err() == nil:
					errs++
				}
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	p1, s1 := b.portal.stats(), b.sim.stats()
	res.self = selfCPU() - c0
	res.pages = len(res.lat)
	res.portal = delta(p0, p1)
	res.sim = delta(s0, s1)
	res.upstreamCalls = b.sim.counters().Total()
	if res.pages > 0 {
		res.upstreamByPage = float64(res.upstreamCalls) / float64(res.pages)
	}
	if res.errors > 0 {
		must(fmt.Errorf("%d requests failed during a throughput run", res.errors))
	}
	return res
}

func delta(a, b procStats) procStats {
	return procStats{CPU: b.CPU - a.CPU, Mallocs: b.Mallocs - a.Mallocs, TotalAlloc: b.TotalAlloc - a.TotalAlloc,
		NumGC: b.NumGC - a.NumGC, Conns: b.Conns - a.Conns}
}

// 3. Throughput and cost at 0 ms.
func (b *bench) throughput(idle procStats) {
	r := b.rep
	fmt.Fprintf(r, "## 3. Throughput and cost\n\n")
	r.para("No added latency; view `/keys?%s`; each run lasts %v (or %d requests). Every client is its own signed-in "+
		"session. CPU is user + system time of each process from `getrusage` (the portal's child process alone; "+
		"the stand-in's separately); allocations from the portal's `runtime.MemStats`. The baseline row is (a) at the "+
		"same concurrency, whose cost lies in the bench and the stand-in only. The bench's CPU per direct call is about "+
		"what the apiclient part of a page costs (two requests out, their JSON decoded); *portal's own* is the portal's "+
		"CPU per page minus that: the work that is the portal's alone (sessions, CSRF, logging, the view model, templates, gzip).", mainView.query, b.n.loadFor, b.n.loadMax)
	browsers := b.sessions(max(16, b.n.sessions))
	var rows [][]string
	var worstCPU, worstOwn time.Duration
	for _, conc := range []int{2, 16} {
		progress(fmt.Sprintf("throughput, %d clients", conc))
		base := b.load(conc, func(ctx context.Context, _ int) (time.Duration, error) {
			_, d, err := b.direct.list(ctx, mainView.q)
			return d, err
		})
		rows = append(rows, b.loadRow("(a) direct ListKeys", conc, base, base))
		for _, hx := range []bool{false, true} {
			if !hx && conc == 2 && b.prof != "" {
				must(b.portal.call("POST", "/profile/start?path="+b.prof, nil))
			}
			res := b.load(conc, func(ctx context.Context, w int) (time.Duration, error) {
				res, err := browsers[w].page(ctx, mainView.path(), hx)
				return res.duration, err
			})
			if !hx && conc == 2 && b.prof != "" {
				must(b.portal.call("POST", "/profile/stop", nil))
			}
			name := "(b) full page"
			if hx {
				name = "(c) htmx fragment"
			}
			rows = append(rows, b.loadRow(name, conc, res, base))
			if res.pages > 0 {
				worstCPU = max(worstCPU, res.portal.CPU/time.Duration(res.pages))
				worstOwn = max(worstOwn, res.portal.CPU/time.Duration(res.pages)-base.self/time.Duration(max(base.pages, 1)))
			}
		}
	}
	r.table([]string{"request", "clients", "pages", "pages/s", "÷ (a)", "p50", "p99", "portal CPU/page",
		"portal's own", "stand-in CPU/page", "bench CPU/page", "portal allocs/page", "portal alloc/page", "balena calls/page"}, rows)
	r.verdict("the portal's own CPU per page well under 1 ms (< 0.5 ms)", fmt.Sprintf("at most %s (%s in all, apiclient included)",
		us(worstOwn), us(worstCPU)), worstOwn < time.Millisecond/2)

	// Memory with many sessions: each signs in, then all load the page at once.
	progress(fmt.Sprintf("memory with %d sessions", len(browsers)))
	b.fanOut(len(browsers), len(browsers), func(i int) error {
		for range 3 {
			if _, err := browsers[i].page(b.ctx, mainView.path(), false); err != nil {
				return err
			}
		}
		return nil
	})
	end := b.portal.stats()
	if b.prof != "" {
		must(b.portal.call("POST", "/profile/heap?path="+b.prof+".heap", nil))
	}
	r.para("**Memory:** the portal's resident set (VmRSS) after %d signed-in sessions each loaded the page three times, all "+
		"%d at once: **%s** (peak VmHWM %s; Go heap in use %s; %d goroutines), against %s when it had just started (%s).",
		len(browsers), len(browsers), mb(end.RSS), mb(end.HWM), mb(int64(end.HeapInuse)), end.Goroutines, mb(idle.RSS),
		ratio(float64(end.RSS), float64(idle.RSS)))
	r.verdict(fmt.Sprintf("RSS < 60 MB with %d sessions", len(browsers)), mb(end.RSS)+" (peak "+mb(end.HWM)+")", end.RSS < 60<<20 && end.HWM < 60<<20)
}

func (b *bench) loadRow(name string, conc int, res, base loadResult) []string {
	per := func(r loadResult, d time.Duration) time.Duration { return d / time.Duration(max(r.pages, 1)) }
	rate := func(r loadResult) float64 { return float64(r.pages) / r.elapsed.Seconds() }
	row := []string{name, strconv.Itoa(conc), strconv.Itoa(res.pages), fmt.Sprintf("%.0f", rate(res)),
		ratio(rate(res), rate(base)), ms(res.lat.pct(50)), ms(res.lat.pct(99))}
	if name[1] == 'a' {
		row = append(row, "–", "–")
	} else {
		row = append(row, us(per(res, res.portal.CPU)), us(per(res, res.portal.CPU)-per(base, base.self)))
	}
	row = append(row, us(per(res, res.sim.CPU)), us(per(res, res.self)))
	if name[1] == 'a' {
		row = append(row, "–", "–")
	} else {
		n := uint64(max(res.pages, 1))
		row = append(row, strconv.FormatUint(res.portal.Mallocs/n, 10), kb(int64(res.portal.TotalAlloc/n)))
	}
	return append(row, fmt.Sprintf("%.2f", res.upstreamByPage))
}

// sessions signs in n browsers, eight at a time.
func (b *bench) sessions(n int) []*browser {
	progress(fmt.Sprintf("signing in %d sessions", n))
	out := make([]*browser, n)
	b.fanOut(n, 8, func(i int) error {
		u, err := signIn(b.ctx, b.portal.URL)
		out[i] = u
		return err
	})
	return out
}

// fanOut runs fn(0..n-1), conc at a time, and fails the run on the first
// error once all have ended.
func (b *bench) fanOut(n, conc int, fn func(i int) error) {
	var g errgroup.Group
	g.SetLimit(conc)
	for i := range n {
		g.Go(func() error { return fn(i) })
	}
	b.check(g.Wait())
}

var assetRef = regexp.MustCompile(`<(?:link|script)\b[^>]*?\b(?:href|src)="([^"]+)"`)

// 4. Bytes on the wire.
func (b *bench) wire() {
	r := b.rep
	progress("bytes on the wire")
	fmt.Fprintf(r, "## 4. Bytes on the wire\n\n")
	r.para("A browser with an empty cache, `Accept-Encoding: gzip`. *wire* is the body as sent plus the status line and " +
		"headers; *body* the body as sent; *uncompressed* the body after gunzip, the baseline of the ratio.")
	u, err := signIn(b.ctx, b.portal.URL)
	must(err)
	var rows [][]string
	var first int
	fetch := func(what, path string, hx bool) []byte {
		res, err := u.get(b.ctx, path, hx, true)
		must(err)
		plain := res.body
		enc := res.header.Get("Content-Encoding")
		if enc == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(res.body))
			must(err)
			plain, err = io.ReadAll(zr)
			must(err)
		} else {
			enc = "**none**"
		}
		rows = append(rows, []string{what, "`" + path + "`", strconv.Itoa(res.status), enc, kb(int64(res.wire)),
			kb(int64(len(res.body))), kb(int64(len(plain))), ratio(float64(len(res.body)), float64(len(plain)))})
		return plain
	}
	html := fetch("page", mainView.path(), false)
	for _, m := range assetRef.FindAllSubmatch(html, -1) {
		fetch("asset", string(m[1]), false)
	}
	for _, row := range rows {
		first += parseKB(row[4])
	}
	frag := fetch("filter change", "/keys?kind=user&status=active&sort=name&q=key", true)
	_ = frag
	fragWire := parseKB(rows[len(rows)-1][4])
	r.table([]string{"what", "URL", "status", "encoding", "wire", "body", "uncompressed", "body ÷ uncompressed"}, rows)
	r.para("First load, everything: **%s**. One filter change (the fragment): **%s**.", kb(int64(first)), kb(int64(fragWire)))
	r.verdict("first load ≤ 60 KB (50 rows, gzip)", kb(int64(first)), first <= 60<<10)
	r.verdict("filter change ≤ 10 KB (50 rows, gzip)", kb(int64(fragWire)), fragWire <= 10<<10)
}

// parseKB reverses kb for the sums above (to the byte is not needed).
func parseKB(s string) int {
	var f float64
	fmt.Sscanf(s, "%f KB", &f)
	return int(f * 1024)
}

// 5. Scale: the large dataset at its far ends.
func (b *bench) scale() {
	r := b.rep
	progress("scale")
	fmt.Fprintf(r, "## 5. Scale\n\n")
	first, _, err := b.direct.list(b.ctx, keyQuery(apiclient.KeyQuery{Kinds: []apiclient.KeyKind{apiclient.KindDevice}}, 50, 1))
	must(err)
	last := max(1, (first.Total+49)/50)
	r.para("Dataset `large`, no added latency, %d requests of each kind per view. The device keys number %d (%d pages "+
		"of 50); the last page makes balena skip %d rows. *calls* and *at once* are counted by the stand-in for one more "+
		"full page, with 50 ms added so that calls made together overlap.", b.n.scale, first.Total, last, (last-1)*50)
	views := []view{
		{"device keys, first page", "kind=device", keyQuery(apiclient.KeyQuery{Kinds: []apiclient.KeyKind{apiclient.KindDevice}}, 50, 1)},
		{"device keys, last page", "kind=device&page=" + strconv.Itoa(last), keyQuery(apiclient.KeyQuery{Kinds: []apiclient.KeyKind{apiclient.KindDevice}}, 50, last)},
		{"text search", "q=tango", keyQuery(apiclient.KeyQuery{Text: "tango"}, 50, 1)},
		{"text search, device keys", "q=tango&kind=device", keyQuery(apiclient.KeyQuery{Text: "tango", Kinds: []apiclient.KeyKind{apiclient.KindDevice}}, 50, 1)},
	}
	var rows [][]string
	oneTrip := true
	for _, v := range views {
		var a, page, frag sample
		for i := 0; i < b.n.scale && b.ctx.Err() == nil; i++ {
			a = append(a, b.timeDirect(v.q))
			page = append(page, b.timePage(b.user, v.path(), false))
			frag = append(frag, b.timePage(b.user, v.path(), true))
		}
		p, _, err := b.direct.list(b.ctx, v.q)
		b.check(err)
		b.sim.latency(50 * time.Millisecond) // so that calls made at once overlap
		b.sim.reset()
		b.timePage(b.user, v.path(), false)
		c := b.sim.counters()
		b.sim.latency(0)
		oneTrip = oneTrip && c.Total() <= 3 && c.Get(routeList) == 1 && c.Get(routeCount) == 1 && c.MaxInFlight == c.Total()
		rows = append(rows, []string{v.name, "`" + v.path() + "`", strconv.Itoa(p.Total),
			ms(a.pct(50)), ms(page.pct(50)), ratio(float64(page.pct(50)), float64(a.pct(50))),
			ms(frag.pct(50)), ratio(float64(frag.pct(50)), float64(a.pct(50))), ms(page.pct(99)),
			fmt.Sprintf("%d / %d", c.Total(), c.MaxInFlight)})
	}
	r.table([]string{"view", "URL", "matches", "(a) p50", "page p50", "÷ (a)", "fragment p50", "÷ (a)", "page p99", "calls / at once"}, rows)
	r.verdict("large dataset: each view one round trip", yes(oneTrip), oneTrip)
}
