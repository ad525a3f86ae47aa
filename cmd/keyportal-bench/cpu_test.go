package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/keyportal/keyportal/handlers"
)

// BenchmarkPortalCPU is section 3's "portal CPU per page" in one process:
// the stand-in (dataset large) runs in a child, so that this process's CPU
// is the portal's alone, apiclient included, and each page is served by the
// portal's own handler straight from memory (no client socket). cpu-µs/op
// is that CPU per page (user + system, from getrusage); allocs/op are the
// portal's. The view is section 3's: 50 rows, gzip, a signed-in session.
func BenchmarkPortalCPU(b *testing.B) {
	sim, err := startChild("sim", datasetEnv+"=large")
	if err != nil {
		b.Fatal(err)
	}
	defer sim.stop()
	cfg, err := portalConfig(sim.URL, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	// Logged at info level as in production, formatted, then discarded.
	srv, err := handlers.New(cfg, slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: cfg.LogLevel})))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close(context.Background())
	web := httptest.NewServer(srv)
	defer web.Close()
	u, err := signIn(context.Background(), web.URL)
	if err != nil {
		b.Fatal(err)
	}
	base, _ := url.Parse(web.URL)
	// The baseline, as section 3 takes it: the same view asked of the
	// stand-in with apiclient directly, whose CPU is the apiclient share of
	// a page. own-µs/op is a page's less that: the portal's own work.
	var directCPU float64
	b.Run("direct", func(b *testing.B) {
		d, err := newDirect(context.Background(), sim.URL)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		start := cpuTime()
		for b.Loop() {
			if _, _, err := d.list(context.Background(), mainView.q); err != nil {
				b.Fatal(err)
			}
		}
		directCPU = float64((cpuTime() - start).Microseconds()) / float64(b.N)
		b.ReportMetric(directCPU, "cpu-µs/op")
	})
	for _, c := range []struct {
		name string
		hx   bool
	}{{"page", false}, {"fragment", true}} {
		b.Run(c.name, func(b *testing.B) {
			path := "/keys?" + mainView.query
			page := func() {
				req := httptest.NewRequest(http.MethodGet, web.URL+path, nil)
				req.Header.Set("Accept-Encoding", "gzip")
				if c.hx {
					req.Header.Set("HX-Request", "true")
					req.Header.Set("HX-Current-URL", web.URL+"/keys")
				}
				for _, ck := range u.http.Jar.Cookies(base) {
					req.AddCookie(ck)
				}
				w := &discard{header: http.Header{}}
				srv.ServeHTTP(w, req)
				if w.status != http.StatusOK || w.n < 1000 {
					b.Fatalf("%s: status %d, %d bytes", path, w.status, w.n)
				}
				if sc := w.header.Values("Set-Cookie"); len(sc) > 0 {
					u.http.Jar.SetCookies(base, (&http.Response{Header: w.header}).Cookies())
				}
			}
			page() // the fleet menu and the session memo, as on any later page
			b.ReportAllocs()
			start := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				page()
			}
			b.StopTimer()
			cpu := float64((cpuTime() - start).Microseconds()) / float64(b.N)
			b.ReportMetric(cpu, "cpu-µs/op")
			if directCPU > 0 {
				b.ReportMetric(cpu-directCPU, "own-µs/op")
			}
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discard is a ResponseWriter that counts the body and keeps nothing of it.
type discard struct {
	header http.Header
	status int
	n      int
}

func (d *discard) Header() http.Header { return d.header }
func (d *discard) WriteHeader(code int) {
	if d.status == 0 {
		d.status = code
	}
}
func (d *discard) Write(p []byte) (int, error) {
	d.WriteHeader(http.StatusOK)
	d.n += len(p)
	return len(p), nil
}
