// Command balena-sim serves the balenasim stand-in of the balena API, for
// local runs, demos and benchmarks:
//
//	go run ./cmd/balena-sim -addr 127.0.0.1:8081 -dataset demo -profile balenacloud
//	go run ./cmd/balena-sim -latency 50ms -error-rate 0.1
//
// It prints the URL it listens on and the TOTP secret of the 2FA user, and
// shuts down cleanly on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "balena-sim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("balena-sim", flag.ContinueOnError)
	// The flag package's messages go to stdout for -h (asked for, exit 0) and
	// to stderr for a bad flag; which one is known only after parsing.
	var parseOut strings.Builder
	fs.SetOutput(&parseOut)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address (port 0 picks a free one)")
	dataset := fs.String("dataset", "demo", "dataset: demo, large or empty")
	profile := fs.String("profile", string(balenasim.ProfileBalenaCloud), "profile: balenacloud or openbalena")
	verbose := fs.Bool("v", false, "log every request (never tokens or keys)")
	var f balenasim.Faults
	fs.DurationVar(&f.Latency, "latency", 0, "added latency per request, e.g. 50ms")
	fs.Float64Var(&f.ErrorRate, "error-rate", 0, "share of requests answered 500/502/503")
	fs.Float64Var(&f.RateLimitRate, "rate-limit-rate", 0, "share of requests answered 429")
	fs.DurationVar(&f.RetryAfter, "retry-after", time.Second, "Retry-After of injected 429s")
	fs.Float64Var(&f.ResetRate, "reset-rate", 0, "share of connections reset without an answer")
	fs.Float64Var(&f.TruncateRate, "truncate-rate", 0, "share of answers cut off halfway")
	fs.Float64Var(&f.GarbageRate, "garbage-rate", 0, "share of answers replaced by an HTML page")
	fs.Int64Var(&f.Seed, "seed", 1, "seed of the fault draws")
	fs.Func("fault-routes", "limit -latency and the -*-rate faults to these routes: comma-separated `METHOD /path`, each a prefix, e.g. 'POST /api-key/user/full,DELETE /v7/api_key'; on a write, latency, truncation, garbage and resets come after the write is applied", func(v string) error {
		for _, r := range strings.Split(v, ",") {
			r = strings.TrimSpace(r)
			method, path, ok := strings.Cut(r, " ")
			if !ok || method == "" || !strings.HasPrefix(path, "/") {
				return fmt.Errorf("%q is not METHOD /path", r)
			}
			f.Routes = append(f.Routes, r)
		}
		return nil
	})
	loginMax := fs.Int("login-max-attempts", 10, "failed logins per address and user before 429")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: balena-sim [flags]\n\nServes the balenasim stand-in of the balena API until Ctrl-C.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		if fs.Arg(0) != "help" {
			return fmt.Errorf("unexpected argument %q (see balena-sim -h)", fs.Arg(0))
		}
		fs.Usage()
		err = flag.ErrHelp
	}
	if errors.Is(err, flag.ErrHelp) {
		_, err := io.WriteString(stdout, parseOut.String())
		return err
	}
	_, _ = io.WriteString(stderr, parseOut.String())
	if err != nil {
		return err
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	sim, err := balenasim.New(balenasim.Options{
		Profile:          balenasim.Profile(*profile),
		Dataset:          *dataset,
		Logger:           logger,
		LoginMaxAttempts: *loginMax,
		Faults:           f,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "balena-sim listening on http://%s (dataset %s, profile %s)\n", ln.Addr(), *dataset, sim.Profile())
	fmt.Fprintf(stdout, "sign in: %s / %s\n", balenasim.DemoEmail, balenasim.DemoPassword)
	fmt.Fprintf(stdout, "2FA user: %s / %s, TOTP secret %s\n", balenasim.Demo2FAEmail, balenasim.DemoPassword, sim.TOTPSecret(balenasim.Demo2FAEmail))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(stdout, "balena-sim stopped")
	return nil
}
