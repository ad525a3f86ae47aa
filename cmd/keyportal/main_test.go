package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/audit"
)

// TestDemoServesAndStopsCleanly runs `keyportal demo` as `make demo` does,
// signs nothing in, but checks that it prints where it is and what to sign
// in with, serves, and returns without error when interrupted.
// With KEYPORTAL_BASE_PATH (`KEYPORTAL_BASE_PATH=/kp make demo`) it
// serves all of that under the base path, and nothing at the root.
func TestDemoServesAndStopsCleanly(t *testing.T) {
	for _, base := range []string{"", "/kp"} {
		t.Run("base="+base, func(t *testing.T) { testDemo(t, base) })
	}
}

func testDemo(t *testing.T, base string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dataDir := t.TempDir()
	// Last run's audit trail names keys of last run's stand-in; the demo
	// starts a fresh one (a file that is no database would stop the start).
	if err := os.WriteFile(filepath.Join(dataDir, audit.FileName), []byte("last run's events"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KEYPORTAL_ADDR": "127.0.0.1:0", "KEYPORTAL_DATA_DIR": dataDir, "KEYPORTAL_BASE_PATH": base}
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo"}, func(k string) string { return env[k] }, outW, io.Discard)
		outW.Close()
	}()

	var url string
	var printed strings.Builder
	sc := bufio.NewScanner(outR)
	for sc.Scan() {
		printed.WriteString(sc.Text() + "\n")
		if m := regexp.MustCompile(`running at (http://\S+?)/?$`).FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
		if strings.Contains(sc.Text(), "Ctrl-C") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	if url == "" || !strings.HasSuffix(url, base) {
		t.Fatalf("demo printed no URL under %q:\n%s", base, printed.String())
	}
	status := func(u string) int {
		t.Helper()
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if base != "" {
		root := strings.TrimSuffix(url, base)
		for _, path := range []string{"/", "/healthz", "/signin", "/metrics"} {
			if code := status(root + path); code != http.StatusNotFound {
				t.Errorf("GET %s outside the base path = %d, want 404", path, code)
			}
		}
	}
	probeEnv := map[string]string{"KEYPORTAL_ADDR": strings.TrimPrefix(strings.TrimSuffix(url, base), "http://"), "KEYPORTAL_BASE_PATH": base}
	if err := healthcheck(ctx, func(k string) string { return probeEnv[k] }); err != nil {
		t.Errorf("keyportal healthcheck: %v", err)
	}
	for _, want := range []string{"admin@example.com", "demo-password", "2fa@example.com", "TOTP secret", "/metrics", "Key policy     at most 90 days", "digest --demo --dry-run", "/audit (SQLite in " + dataDir} {
		if !strings.Contains(printed.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, printed.String())
		}
	}
	// The digest line it prints, copied as the README says, links to this
	// demo (its port, its base path), not to the default address.
	line := regexp.MustCompile(`(?m)^  Digest +(.*) bin/keyportal digest --demo --dry-run$`).FindStringSubmatch(printed.String())
	if line == nil {
		t.Fatalf("demo printed no digest command:\n%s", printed.String())
	}
	digestEnv := map[string]string{"KEYPORTAL_DATA_DIR": dataDir} // as from the demo's directory
	for _, kv := range strings.Fields(line[1]) {
		k, v, _ := strings.Cut(kv, "=")
		digestEnv[k] = v
	}
	var digest strings.Builder
	if err := digestCommand(ctx, []string{"--demo", "--dry-run"}, func(k string) string { return digestEnv[k] }, &digest, io.Discard); err != nil {
		t.Errorf("%s bin/keyportal digest --demo --dry-run: %v", line[1], err)
	} else if !strings.Contains(digest.String(), ": "+url+"/keys?") {
		t.Errorf("the printed digest command's digest does not link to the demo at %s:\n%s", url, digest.String())
	}

	for _, path := range []string{"/healthz", "/readyz", "/signin"} {
		if code := status(url + path); code != http.StatusOK {
			t.Errorf("GET %s = %d", path, code)
		}
	}

	if _, err := os.Stat(filepath.Join(dataDir, "audit.db")); err != nil {
		t.Errorf("the demo keeps no audit trail in its data directory: %v", err)
	}

	// The demo turns metrics and the watcher on (its first refresh runs
	// in the background, so only what is there from the start is checked).
	res, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "keyportal_watch_errors_total") ||
		!strings.Contains(string(body), `keyportal_http_requests_total{code="200",route="`+base+`/healthz"}`) {
		t.Errorf("GET /metrics = %d:\n%.2000s", res.StatusCode, body)
	}

	cancel() // what Ctrl-C does
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo stopped with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("demo did not stop after its context ended")
	}
}

func TestServeRefusesMissingSessionKeys(t *testing.T) {
	err := run(context.Background(), nil, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "KEYPORTAL_SESSION_KEYS") {
		t.Errorf("serve without keys: %v", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	err := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Errorf("got %v", err)
	}
}

// Every command answers -h, --help and help with its usage on stdout and
// returns nil (exit 0), and none of them starts anything. The context is
// already cancelled, so a command that wrongly served would stop at once
// (having printed something else) instead of hanging the test.
func TestHelpPrintsUsage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dataDir := t.TempDir()
	env := map[string]string{"KEYPORTAL_ADDR": "127.0.0.1:0", "KEYPORTAL_DATA_DIR": dataDir}
	cases := map[string]string{"": "Usage: keyportal [command]"}
	for cmd := range commandUsage {
		cases[cmd] = "Usage: keyportal " + cmd
	}
	for cmd, want := range cases {
		for _, h := range []string{"-h", "--help", "help"} {
			args := []string{h}
			if cmd != "" {
				args = []string{cmd, h}
			}
			var out strings.Builder
			err := run(ctx, args, func(k string) string { return env[k] }, &out, io.Discard)
			if err != nil || !strings.HasPrefix(out.String(), want) {
				t.Errorf("keyportal %v: err %v, printed %q, want it to start with %q", args, err, out.String(), want)
			}
		}
	}
}

func TestCommandsRefuseArguments(t *testing.T) {
	err := run(context.Background(), []string{"demo", "now"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `demo takes no arguments, got "now"`) {
		t.Errorf("got %v", err)
	}
}

// KEYPORTAL_ADDR=0.0.0.0:8080 make demo prints, and links its digest to,
// an address a browser opens, not http://[::]:8080.
func TestDemoOnEveryAddressNamesTheLoopback(t *testing.T) {
	for _, addr := range []net.Addr{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, &net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}} {
		if got := browsable(addr); got != "127.0.0.1:8080" {
			t.Errorf("%s: %s, want 127.0.0.1:8080", addr, got)
		}
	}
	if got := browsable(&net.TCPAddr{IP: net.IPv6loopback, Port: 9090}); got != "[::1]:9090" {
		t.Errorf("[::1]:9090 became %s", got)
	}
}

// A demo's stand-in starts afresh, with the same key ids, so its audit
// trail does too: a rotation recorded by an earlier run would otherwise
// show on key 13's page as "Replaced by #32", a key this run does not have.
func TestDemoStartsItsAuditTrailAfresh(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dataDir := t.TempDir()
	earlier, err := audit.Open(ctx, audit.Options{Dir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	earlier.Record(ctx, apikeys.Event{Action: "rotate_create", ActorID: 1, Username: balenasim.DemoUsername, Key: apiclient.APIKey{ID: 13}, NewKey: 32, Outcome: apikeys.Done})
	if _, n, err := earlier.List(ctx, audit.Filter{All: true}); err != nil || n != 1 {
		t.Fatalf("the earlier run's trail: %d events, %v", n, err)
	}
	earlier.Close()

	env := map[string]string{"KEYPORTAL_ADDR": "127.0.0.1:0", "KEYPORTAL_DATA_DIR": dataDir}
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo"}, func(k string) string { return env[k] }, outW, io.Discard)
		outW.Close()
	}()
	sc := bufio.NewScanner(outR)
	for sc.Scan() && !strings.Contains(sc.Text(), "Ctrl-C") {
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()

	now, err := audit.Open(ctx, audit.Options{Dir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer now.Close()
	if history, err := now.History(ctx, 13, 10); err != nil || len(history) != 0 {
		t.Errorf("key 13's history in a fresh demo: %d events, %v; want none", len(history), err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo stopped with %v", err)
	}
}
