// Command keyportal-bench measures what a keys view costs, side by side
// with the balena call it is made of, and writes the figures to
// docs/performance.md:
//
//	go run ./cmd/keyportal-bench                  # or make bench
//	go run ./cmd/keyportal-bench -quick -out ''   # a smoke run, nothing written
//
// It also times a bulk expire of 1,000 keys against the one-call-per-key
// way it replaced, and the overview against its slowest balena call.
//
// It starts the balena stand-in (dataset large) and the portal as two child
// processes of its own binary on loopback, so that the CPU time,
// allocations and memory it reads from each are that process's alone, and
// drives them as browsers would: signed-in sessions with their own cookies,
// gzip, htmx headers. Every phase is bounded in requests and in time; the
// whole run stops by itself within five minutes. Nothing leaves loopback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func main() {
	if playChild() {
		return
	}
	o, err := parseFlags(os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2)
	}
	exitOn(run(os.Stdout, o.out, o.quick, o.profile, o.limit))
}

// options are the bench's flags.
type options struct {
	out, profile string
	quick        bool
	limit        time.Duration
}

// parseFlags reads the command line. For -h, --help or help it prints the
// usage on stdout and returns flag.ErrHelp; a bad flag or a stray argument
// is reported on stderr.
func parseFlags(args []string, stdout, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("keyportal-bench", flag.ContinueOnError)
	var parseOut strings.Builder
	fs.SetOutput(&parseOut)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: keyportal-bench [flags]\n\nMeasures a keys view against its balena call and a 1,000-key bulk expire; writes the report.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.out, "out", "docs/performance.md", "write the report here as well as to stdout ('' for stdout only)")
	fs.BoolVar(&o.quick, "quick", false, "a few requests per phase: checks that the bench works, measures nothing")
	fs.StringVar(&o.profile, "cpuprofile", "", "write the portal's CPU profile during the 2-client full-page run (the costliest per page) here")
	fs.DurationVar(&o.limit, "limit", 300*time.Second, "stop measuring after this long, whatever is left")
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		if fs.Arg(0) != "help" {
			fmt.Fprintf(&parseOut, "unexpected argument %q (see keyportal-bench -h)\n", fs.Arg(0))
			err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
		} else {
			fs.Usage()
			err = flag.ErrHelp
		}
	}
	if errors.Is(err, flag.ErrHelp) {
		_, _ = io.WriteString(stdout, parseOut.String())
		return o, err
	}
	_, _ = io.WriteString(stderr, parseOut.String())
	return o, err
}

// playChild runs the child this process was started as, if any, and
// reports whether it was one.
func playChild() bool {
	switch os.Getenv(roleEnv) {
	case "sim":
		exitOn(runSim())
	case "portal":
		exitOn(runPortal())
	default:
		return false
	}
	return true
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "keyportal-bench:", err)
		os.Exit(1)
	}
}

// counts are the requests each phase makes.
type counts struct {
	lat0, lat50 int           // per kind of request, at 0 and 50 ms of added latency
	warm        int           // unmeasured requests of each kind first
	loadFor     time.Duration // each throughput run
	loadMax     int           // requests, at most, per throughput run
	sessions    int           // signed in for the memory figure
	scale       int           // per view and kind in the scale phase
	bulkKeys    int           // keys of each bulk expire
	bulk0       int           // bulk expires of each way at 0 ms of added latency
	bulk50      int           // and at 50 ms
	events      int           // audit events in the database for the audit page
	revokes     int           // revokes of each way in the audit A/B
	auditViews  int           // requests per audit view
}

var full = counts{lat0: 200, lat50: 60, warm: 10, loadFor: 5 * time.Second, loadMax: 20_000, sessions: 100, scale: 20,
	bulkKeys: 1000, bulk0: 3, bulk50: 1, events: 100_000, revokes: 150, auditViews: 15}
var smoke = counts{lat0: 5, lat50: 3, warm: 1, loadFor: 200 * time.Millisecond, loadMax: 50, sessions: 20, scale: 2,
	bulkKeys: 100, bulk0: 1, events: 2000, revokes: 5, auditViews: 3}

type bench struct {
	ctx    context.Context
	n      counts
	sim    *child
	portal *child
	direct *direct
	user   *browser // the one browser of the sequential phases
	rep    *report
	prof   string
	// dataDir is the portal's data directory: the audit phase fills its
	// audit.db.
	dataDir string
}

func run(stdout io.Writer, out string, quick bool, profile string, limit time.Duration) (err error) {
	started := time.Now()
	loadBefore := loadavg()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	b := &bench{ctx: ctx, n: full, rep: &report{}, prof: profile}
	if quick {
		b.n = smoke
	}
	defer func() {
		if p := recover(); p != nil {
			be, ok := p.(benchError)
			if !ok {
				panic(p)
			}
			err = be.error
		}
	}()

	progress("starting the stand-in (dataset large) and the portal")
	if b.sim, err = startChild("sim", datasetEnv+"=large"); err != nil {
		return err
	}
	defer b.sim.stop()
	if b.dataDir, err = os.MkdirTemp("", "keyportal-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.dataDir)
	if b.portal, err = startChild("portal", simURLEnv+"="+b.sim.URL, dataDirEnv+"="+b.dataDir); err != nil {
		return err
	}
	defer b.portal.stop()
	idle := b.portal.stats()
	if b.direct, err = newDirect(ctx, b.sim.URL); err != nil {
		return fmt.Errorf("direct sign-in: %w", err)
	}
	if b.user, err = signIn(ctx, b.portal.URL); err != nil {
		return err
	}

	b.latency()
	b.upstreamCalls()
	b.throughput(idle)
	b.wire()
	b.scale()
	b.bulk() // it expires keys: the phases before see the dataset as seeded; the watcher's figures do not depend on which
	b.overview()
	b.watcher(idle)
	b.auditTrail()

	r := b.rep
	var doc strings.Builder
	doc.WriteString("# Performance\n\n")
	doc.WriteString("What a keys view costs, measured side by side with the balena call it is made of. ")
	doc.WriteString("Written by `make bench` (`cmd/keyportal-bench`); every figure below comes from one run on one machine, ")
	doc.WriteString("so compare ratios rather than milliseconds across machines. Section 6 times a bulk action of 1,000 keys ")
	doc.WriteString("against the one-call-per-key way it replaced; section 7 counts the overview's calls and times it against its slowest one; section 8 counts the key watcher's balena calls and its memory; section 9 what the audit trail costs a revoke and what its page costs over 100,000 events.\n\n")
	fmt.Fprintf(&doc, "- **Run:** %s UTC, %s in all%s\n", started.UTC().Format("2006-01-02 15:04"),
		time.Since(started).Round(time.Second), map[bool]string{true: " (**-quick: not a measurement**)"}[quick])
	fmt.Fprintf(&doc, "- **Machine:** %s; load average %s before the run, %s after (other work on the machine shows in the p99s more than anywhere else)\n",
		machine(), loadBefore, loadavg())
	doc.WriteString("- **Setup:** the balena stand-in (`apiclient/balenasim`, dataset `large`: 200 fleets, 20,000 device keys, " +
		"1,000 user keys) and the portal each run in a child process of the bench on loopback; the bench is the browser " +
		"(gzip, cookies, htmx headers) and the baseline client. All three share the machine's cores. The portal logs at " +
		"info level as in production, to a discarded writer.\n")
	doc.WriteString("- **Baseline (a):** `apiclient.Session.ListKeys` called directly for the same view: the page of keys and its `/$count`, in parallel.\n\n")
	if ctx.Err() != nil {
		doc.WriteString("**This run hit its time limit; later phases are incomplete.**\n\n")
	}
	doc.WriteString("## Targets\n\n")
	tr := report{}
	tr.table([]string{"target", "this run", "verdict"}, r.verdicts)
	doc.WriteString(tr.String())
	doc.WriteString(r.String())
	doc.WriteString("## Running it\n\n`make bench` builds and runs this program (four to five minutes; it writes this file), then runs every Go " +
		"benchmark once (`go test -run '^$' -bench . -benchtime 1x ./...`) to keep them working. " +
		"`go run ./cmd/keyportal-bench -quick -out ''` is a smoke run; `-cpuprofile portal.pprof` saves the portal's CPU " +
		"profile during the 2-client full-page run (the costliest per page) for `go tool pprof`. " +
		"`go test -run '^$' -bench PortalCPU -benchtime 2000x -cpuprofile cpu.pprof ./cmd/keyportal-bench` times the same " +
		"page in one process (the stand-in in a child) and reports its CPU, the portal's own share and allocations per page, " +
		"quicker to profile and to compare two builds with.\n")

	fmt.Fprint(stdout, doc.String())
	if out != "" && !quick {
		// Notes written by hand below the marker survive a new run.
		doc.WriteString("\n" + notesMarker + "\n")
		if old, err := os.ReadFile(out); err == nil {
			if _, notes, ok := strings.Cut(string(old), notesMarker+"\n"); ok {
				doc.WriteString(notes)
			}
		}
		if err := os.WriteFile(out, []byte(doc.String()), 0o644); err != nil {
			return err
		}
		progress("wrote " + out)
	}
	return nil
}

// notesMarker separates the measured part of docs/performance.md from the
// notes under it, which the bench keeps.
const notesMarker = "<!-- Above: written by make bench. Below: notes by hand, kept by make bench. -->"

func progress(msg string) {
	fmt.Fprintf(os.Stderr, "keyportal-bench: %s\n", msg)
}
