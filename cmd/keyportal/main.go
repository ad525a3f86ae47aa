// Command keyportal serves the Keyportal web portal.
//
//	keyportal              serve, configured by KEYPORTAL_* environment variables
//	keyportal demo         serve with the balena stand-in in the same process, seeded
//	keyportal healthcheck  exit 0 when the portal at KEYPORTAL_ADDR answers /healthz
//	keyportal version      print the version
//	keyportal help         print the usage (also -h and --help, after any command)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers"
	"github.com/keyportal/keyportal/internal/audit"
	"github.com/keyportal/keyportal/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "keyportal:", err)
		os.Exit(1)
	}
}

// run is the whole program, with its surroundings passed in so that tests
// can start it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	if isHelp(cmd) {
		_, err := io.WriteString(stdout, usage)
		return err
	}
	text, known := commandUsage[cmd]
	if !known {
		return fmt.Errorf("unknown command %q (want serve, demo, healthcheck, version or help)", cmd)
	}
	if len(args) > 1 {
		if isHelp(args[1]) {
			_, err := io.WriteString(stdout, text)
			return err
		}
		return fmt.Errorf("%s takes no arguments, got %q (see keyportal %s -h)", cmd, args[1], cmd)
	}
	switch cmd {
	case "serve", "demo":
		return serve(ctx, cmd == "demo", getenv, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, getenv)
	}
	_, err := fmt.Fprintln(stdout, "keyportal", apiclient.Version)
	return err
}

// isHelp reports whether an argument asks for the usage.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

const usage = `Usage: keyportal [command]

Commands:
  serve        serve the portal, configured by KEYPORTAL_* environment variables (the default)
  demo         serve the portal with the balena stand-in in the same process, seeded
  healthcheck  exit 0 when the portal at KEYPORTAL_ADDR answers /healthz
  version      print the version
  help         print this help (also -h or --help; "keyportal COMMAND -h" for one command)

Settings are environment variables (KEYPORTAL_ADDR, KEYPORTAL_SESSION_KEYS, ...): see the README.
`

// commandUsage is each command's own usage, printed for "keyportal COMMAND -h".
var commandUsage = map[string]string{
	"serve": `Usage: keyportal serve

Serves the portal on KEYPORTAL_ADDR (default 127.0.0.1:8080) against KEYPORTAL_BALENA_API_URL.
Every setting is a KEYPORTAL_* environment variable, validated at start; KEYPORTAL_SESSION_KEYS
is required. See the README's Configuration table.
`,
	"demo": `Usage: keyportal demo

Serves the portal on KEYPORTAL_ADDR (default 127.0.0.1:8080) with the built-in balena stand-in,
seeded with the demo dataset; sign in as admin@example.com / demo-password. Session keys are
generated for the run when KEYPORTAL_SESSION_KEYS is not set. Ctrl-C stops it.
`,
	"healthcheck": `Usage: keyportal healthcheck

Exits 0 when the portal at KEYPORTAL_ADDR answers /healthz, 1 otherwise (for a container's HEALTHCHECK).
`,
	"version": `Usage: keyportal version

Prints the version.
`,
}

// auditWhere says where the audit trail is kept, naming no password.
func auditWhere(cfg config.Config) string {
	if cfg.DatabaseURL != "" {
		return "PostgreSQL"
	}
	return "SQLite in " + filepath.Join(cfg.DataDir, audit.FileName)
}

func serve(ctx context.Context, demo bool, getenv func(string) string, stdout, stderr io.Writer) error {
	env := getenv
	var sim *balenasim.Sim
	if demo {
		var simURL string
		var err error
		sim, simURL, err = startSim(ctx)
		if err != nil {
			return err
		}
		// The demo watches the demo organization as its admin, with a
		// session token the stand-in mints, and serves its metrics.
		watchToken, err := sim.IssueToken(balenasim.DemoEmail, time.Now())
		if err != nil {
			return err
		}
		env = func(k string) string {
			v := getenv(k)
			switch {
			case k == "KEYPORTAL_BALENA_API_URL":
				return simURL
			case k == "KEYPORTAL_WATCH_TOKEN" && v == "" && getenv(k+"_FILE") == "":
				return watchToken
			case k == "KEYPORTAL_METRICS" && v == "":
				return "true"
			case k == "KEYPORTAL_AUDIT_ADMINS" && v == "":
				return balenasim.DemoUsername // the demo's admin sees every event, the 2FA user's too
			}
			return v
		}
	}
	cfg, err := config.Load(env, demo)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(cfg, stderr)
	if demo && len(cfg.SessionKeys) == 0 {
		log.Warn("no KEYPORTAL_SESSION_KEYS: using a random key for this run; sessions end when it stops")
	}
	srv, err := handlers.New(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute, // exports stream for a while
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	url := "http://" + ln.Addr().String()
	log.Info("listening", "url", url, "balena", cfg.BalenaAPIURL)
	if demo {
		fmt.Fprintf(stdout, "\nKeyportal demo is running at %s\n\n", url)
		fmt.Fprintf(stdout, "  Sign in with   %s / %s\n", balenasim.DemoEmail, balenasim.DemoPassword)
		fmt.Fprintf(stdout, "  2FA user       %s / %s (TOTP secret %s)\n", balenasim.Demo2FAEmail, balenasim.DemoPassword, sim.TOTPSecret(balenasim.Demo2FAEmail))
		fmt.Fprintf(stdout, "  balena API     %s (the built-in stand-in, demo dataset)\n", cfg.BalenaAPIURL)
		fmt.Fprintf(stdout, "  Audit trail    %s/audit (%s)\n", url, auditWhere(cfg))
		if cfg.Metrics {
			fmt.Fprintf(stdout, "  Metrics        %s/metrics (keys watched as %s)\n", url, balenasim.DemoEmail)
		}
		fmt.Fprint(stdout, "\nPress Ctrl-C to stop.\n\n")
	}

	if cfg.WatchToken != "" {
		log.Info("watching keys", "interval", cfg.WatchInterval, "warn", cfg.WatchWarn)
	}
	if cfg.Metrics {
		log.Info("metrics on", "url", url+"/metrics")
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() { srv.RunWatcher(watchCtx); close(watchDone) }()
	defer func() { stopWatch(); <-watchDone }() // the watcher stops with the server

	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if err := srv.Close(shutdownCtx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// startSim serves the balena stand-in on a free loopback port until ctx ends.
func startSim(ctx context.Context) (*balenasim.Sim, string, error) {
	sim, err := balenasim.New(balenasim.Options{Dataset: "demo"})
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	s := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.Serve(ln) }()
	go func() { <-ctx.Done(); _ = s.Close() }()
	return sim, "http://" + ln.Addr().String(), nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// healthcheck lets a container without a shell or curl probe itself.
func healthcheck(ctx context.Context, getenv func(string) string) error {
	addr := getenv("KEYPORTAL_ADDR")
	if addr == "" {
		addr = config.Default().Addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: %s", res.Status)
	}
	return nil
}
