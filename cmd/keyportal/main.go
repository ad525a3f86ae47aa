// Command keyportal serves the Keyportal web portal.
//
//	keyportal              serve, configured by KEYPORTAL_* environment variables
//	keyportal demo         serve with the balena stand-in in the same process, seeded
//	keyportal digest       build the expiry digest now and send it (--dry-run: print it)
//	keyportal healthcheck  exit 0 when the portal at KEYPORTAL_ADDR answers <base path>/healthz
//	keyportal version      print the version
//	keyportal help         print the usage (also -h and --help, after any command)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers"
	"github.com/keyportal/keyportal/internal/apikeys"
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
		return fmt.Errorf("unknown command %q (want serve, demo, digest, healthcheck, version or help)", cmd)
	}
	if cmd == "digest" {
		return digestCommand(ctx, args[1:], getenv, stdout, stderr)
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
  digest       build the expiry digest now and send it; --dry-run prints it instead
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
generated for the run when KEYPORTAL_SESSION_KEYS is not set. Keys may live at most 90 days
(KEYPORTAL_POLICY_MAX_LIFETIME=90d) unless that variable says otherwise; =off turns it off.
Ctrl-C stops it.
`,
	"digest": `Usage: keyportal digest [--dry-run] [--demo]

Builds the expiry digest now (keys expiring within KEYPORTAL_DIGEST_WITHIN, and those expired
since the last digest), reading keys with KEYPORTAL_WATCH_TOKEN, and sends it to
KEYPORTAL_DIGEST_WEBHOOK_URL and/or by email (KEYPORTAL_DIGEST_SMTP_URL), recording it as the
last digest. Exits non-zero when sending failed. For operators who schedule it themselves
(cron, a Kubernetes CronJob) instead of the portal's KEYPORTAL_DIGEST_SCHEDULE.

  --dry-run  print the digest instead; send and record nothing
  --demo     read the demo organization as its admin: on the stand-in at
             KEYPORTAL_BALENA_API_URL (the "balena API" address keyportal demo prints), or,
             when that is not set, on a stand-in started here with the demo dataset
`,
	"healthcheck": `Usage: keyportal healthcheck

Exits 0 when the portal at KEYPORTAL_ADDR answers KEYPORTAL_BASE_PATH/healthz, 1 otherwise (for a container's HEALTHCHECK).
`,
	"version": `Usage: keyportal version

Prints the version.
`,
}

// demoMaxLifetime is the demo's KEYPORTAL_POLICY_MAX_LIFETIME unless the
// environment says otherwise: a policy some demo keys break.
const demoMaxLifetime = "90d"

// auditWhere says where the audit trail is kept, naming no password.
func auditWhere(cfg config.Config) string {
	if cfg.DatabaseURL != "" {
		return "PostgreSQL"
	}
	where := "SQLite in " + filepath.Join(cfg.DataDir, audit.FileName)
	if cfg.Demo {
		where += ", fresh each run like the stand-in's keys"
	}
	return where
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
		// session token the stand-in mints, serves its metrics, and caps
		// key lifetimes, so that each of those can be seen.
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
			case k == "KEYPORTAL_POLICY_MAX_LIFETIME" && v == "":
				return demoMaxLifetime // KEYPORTAL_POLICY_MAX_LIFETIME=off turns it off
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
	if demo && cfg.DatabaseURL == "" {
		// The stand-in starts afresh each run, with the same key ids: an
		// audit trail kept from an earlier run would tell of changes these
		// keys never had (key 13 "replaced by #32", a key that is not there).
		if err := removeSQLite(filepath.Join(cfg.DataDir, audit.FileName)); err != nil {
			return fmt.Errorf("the demo's audit trail starts afresh with its stand-in: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	if demo && cfg.PublicURL == "" { // the digest's links lead to this demo
		cfg.PublicURL = "http://" + browsable(ln.Addr()) + cfg.BasePath
	}
	srv, err := handlers.New(cfg, log)
	if err != nil {
		ln.Close()
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
	url := "http://" + browsable(ln.Addr()) + cfg.BasePath
	log.Info("listening", "url", url, "balena", cfg.BalenaAPIURL)
	if demo {
		fmt.Fprintf(stdout, "\nKeyportal demo is running at %s/\n\n", url)
		fmt.Fprintf(stdout, "  Sign in with   %s / %s\n", balenasim.DemoEmail, balenasim.DemoPassword)
		fmt.Fprintf(stdout, "  2FA user       %s / %s (TOTP secret %s)\n", balenasim.Demo2FAEmail, balenasim.DemoPassword, sim.TOTPSecret(balenasim.Demo2FAEmail))
		fmt.Fprintf(stdout, "  balena API     %s (the built-in stand-in, demo dataset)\n", cfg.BalenaAPIURL)
		fmt.Fprintf(stdout, "  Audit trail    %s/audit (%s)\n", url, auditWhere(cfg))
		if cfg.Metrics {
			fmt.Fprintf(stdout, "  Metrics        %s/metrics (keys watched as %s)\n", url, balenasim.DemoEmail)
		}
		if cfg.PolicyMaxLifetime > 0 {
			fmt.Fprintf(stdout, "  Key policy     at most %s (KEYPORTAL_POLICY_MAX_LIFETIME=off to turn it off)\n", apikeys.Policy{MaxLifetime: cfg.PolicyMaxLifetime}.Lifetime())
		}
		fmt.Fprintf(stdout, "  Digest         %s bin/keyportal digest --demo --dry-run\n", demoDigestEnv(cfg))
		fmt.Fprint(stdout, "\nPress Ctrl-C to stop.\n\n")
	}

	if cfg.WatchToken != "" {
		log.Info("watching keys", "interval", cfg.WatchInterval, "warn", cfg.WatchWarn)
	}
	if cfg.Metrics {
		log.Info("metrics on", "url", url+"/metrics")
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone, digestDone := make(chan struct{}), make(chan struct{})
	go func() { srv.RunWatcher(watchCtx); close(watchDone) }()
	go func() {
		if err := srv.RunDigest(watchCtx); err != nil {
			log.Error("digest: the schedule stopped", "error", err)
		}
		close(digestDone)
	}()
	defer func() { stopWatch(); <-watchDone; <-digestDone }() // the watcher and the digest stop with the server
	if cfg.DigestEnabled() {
		log.Info("digest on", "schedule", cfg.DigestSchedule, "tz", cfg.DigestTZ.String(), "next", srv.Digest().Next(time.Now()))
	}

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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+strings.TrimSpace(getenv("KEYPORTAL_BASE_PATH"))+"/healthz", nil)
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

// removeSQLite removes an SQLite database file and its write-ahead log.
func removeSQLite(file string) error {
	var errs []error
	for _, f := range []string{file, file + "-wal", file + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// browsable is addr as a browser on this host can reach it: a listener on
// every address (KEYPORTAL_ADDR=0.0.0.0:8080 or [::]:8080) is reached at
// the loopback, since "http://[::]:8080" opens nothing.
func browsable(addr net.Addr) string {
	a, ok := addr.(*net.TCPAddr)
	if !ok || !a.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port))
}

// demoDigestEnv is the environment, as shell assignments, under which
// `keyportal digest --demo` reads this demo's stand-in and links to this
// demo: its port and base path are not the defaults that command assumes.
func demoDigestEnv(cfg config.Config) string {
	env := "KEYPORTAL_BALENA_API_URL=" + cfg.BalenaAPIURL
	if cfg.BasePath != "" {
		env += " KEYPORTAL_BASE_PATH=" + cfg.BasePath
	}
	return env + " KEYPORTAL_PUBLIC_URL=" + cfg.PublicURL
}

// digestCommand is `keyportal digest [--dry-run] [--demo]`.
func digestCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var dryRun, demo bool
	for _, a := range args {
		switch {
		case a == "--dry-run" || a == "-dry-run":
			dryRun = true
		case a == "--demo" || a == "-demo":
			demo = true
		case isHelp(a):
			_, err := io.WriteString(stdout, commandUsage["digest"])
			return err
		default:
			return fmt.Errorf("digest: unknown argument %q (want --dry-run, --demo; see keyportal digest -h)", a)
		}
	}
	env := getenv
	if demo {
		token, apiURL, err := demoWatchToken(ctx, getenv("KEYPORTAL_BALENA_API_URL"))
		if err != nil {
			return fmt.Errorf("digest --demo: %w", err)
		}
		env = func(k string) string {
			switch k {
			case "KEYPORTAL_BALENA_API_URL":
				return apiURL
			case "KEYPORTAL_WATCH_TOKEN":
				return token
			case "KEYPORTAL_WATCH_TOKEN_FILE":
				return ""
			}
			return getenv(k)
		}
	}
	cfg, err := config.Load(env, demo)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	switch {
	case cfg.WatchToken == "":
		return errors.New("digest: KEYPORTAL_WATCH_TOKEN (or _FILE) is required: the digest reads keys with it")
	case !dryRun && !cfg.DigestEnabled():
		return errors.New("digest: nowhere to send it: set KEYPORTAL_DIGEST_WEBHOOK_URL and/or KEYPORTAL_DIGEST_SMTP_URL, or use --dry-run")
	}
	log := newLogger(cfg, stderr)
	srv, err := handlers.New(cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close(context.Background())
	if dryRun {
		return srv.Digest().Print(ctx, stdout)
	}
	outcome, err := srv.Digest().SendNow(ctx)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, "digest:", outcome)
	return err
}

// demoWatchToken is a credential of the demo admin: on the stand-in at
// apiURL (a running `keyportal demo`), signing in with the demo password,
// or, without apiURL, on a stand-in started here with the demo dataset.
func demoWatchToken(ctx context.Context, apiURL string) (token, url string, err error) {
	if apiURL == "" {
		sim, simURL, err := startSim(ctx)
		if err != nil {
			return "", "", err
		}
		token, err := sim.IssueToken(balenasim.DemoEmail, time.Now())
		return token, simURL, err
	}
	c, err := apiclient.New(apiclient.Options{BaseURL: apiURL, Timeout: 10 * time.Second})
	if err != nil {
		return "", "", err
	}
	token, err = c.Login(ctx, balenasim.DemoEmail, balenasim.DemoPassword)
	if err != nil {
		return "", "", fmt.Errorf("signing in to the demo stand-in at %s as %s: %w", apiURL, balenasim.DemoEmail, err)
	}
	return token, apiURL, nil
}
