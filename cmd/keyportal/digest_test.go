package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/watch/watchtest"
)

// demoKeysWithin names the keys of the demo dataset that the demo admin
// watches and that expire within d of now.
func demoKeysWithin(t *testing.T, d time.Duration) []string {
	sim, err := balenasim.New(balenasim.Options{Dataset: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var names []string
	for _, r := range sim.Keys() {
		if watchtest.Watched(r) && r.Name != nil && apikeys.StatusOf(apiclient.APIKey{ExpiryDate: r.ExpiryDate}, now, d) == apikeys.StatusExpiring {
			names = append(names, *r.Name)
		}
	}
	if len(names) == 0 {
		t.Fatal("the demo dataset has no key expiring within a week")
	}
	return names
}

func runDigest(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	env["KEYPORTAL_DATA_DIR"] = t.TempDir()
	var out strings.Builder
	err := run(context.Background(), append([]string{"digest"}, args...), func(k string) string { return env[k] }, &out, io.Discard)
	return out.String(), err
}

func TestDigestDryRunInDemoModeNamesTheDemoKeysExpiringWithinAWeek(t *testing.T) {
	out, err := runDigest(t, map[string]string{}, "--demo", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range demoKeysWithin(t, 7*24*time.Hour) {
		if !strings.Contains(out, name) {
			t.Errorf("the digest lacks %q:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "Keyportal digest") || !strings.Contains(out, "http://127.0.0.1:8080/keys?") {
		t.Errorf("the digest, with links to the demo's address:\n%s", out)
	}
}

func TestDigestDryRunAgainstARunningDemosStandIn(t *testing.T) {
	sim, err := balenasim.New(balenasim.Options{Dataset: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	defer srv.Close()
	out, err := runDigest(t, map[string]string{"KEYPORTAL_BALENA_API_URL": srv.URL}, "--dry-run", "--demo")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range demoKeysWithin(t, 7*24*time.Hour) {
		if !strings.Contains(out, name) {
			t.Errorf("the digest lacks %q:\n%s", name, out)
		}
	}
}

func TestDigestSendsAndFailsLoudly(t *testing.T) {
	var mu sync.Mutex
	var texts []string
	status := http.StatusOK
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var p struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&p)
		texts = append(texts, p.Text)
		w.WriteHeader(status)
	}))
	defer hook.Close()
	env := func() map[string]string {
		return map[string]string{"KEYPORTAL_DIGEST_WEBHOOK_URL": hook.URL + "/hook", "KEYPORTAL_PUBLIC_URL": "https://keys.example.com"}
	}
	out, err := runDigest(t, env(), "--demo")
	if err != nil || !strings.Contains(out, "digest: sent") {
		t.Fatalf("digest: %v, printed %q", err, out)
	}
	if len(texts) != 1 || !strings.Contains(texts[0], "https://keys.example.com/keys?") {
		t.Errorf("the webhook got %q", texts)
	}

	status = http.StatusInternalServerError
	if _, err := runDigest(t, env(), "--demo"); err == nil || !strings.Contains(err.Error(), "webhook: answered 500") {
		t.Errorf("a failing webhook: %v, want an error (a non-zero exit)", err)
	}
}

func TestDigestNeedsACredentialAndADestination(t *testing.T) {
	if _, err := runDigest(t, map[string]string{"KEYPORTAL_SESSION_KEYS": strings.Repeat("k", 40)}, "--dry-run"); err == nil || !strings.Contains(err.Error(), "KEYPORTAL_WATCH_TOKEN") {
		t.Errorf("without a token: %v", err)
	}
	if _, err := runDigest(t, map[string]string{}, "--demo"); err == nil || !strings.Contains(err.Error(), "KEYPORTAL_DIGEST_WEBHOOK_URL") {
		t.Errorf("without a destination: %v", err)
	}
	if _, err := runDigest(t, map[string]string{}, "--now"); err == nil || !strings.Contains(err.Error(), `unknown argument "--now"`) {
		t.Errorf("a bad argument: %v", err)
	}
}

func TestABadDigestSettingStopsTheStartNamingTheVariable(t *testing.T) {
	env := map[string]string{"KEYPORTAL_SESSION_KEYS": strings.Repeat("k", 40), "KEYPORTAL_ADDR": "127.0.0.1:0",
		"KEYPORTAL_DATA_DIR": t.TempDir(), "KEYPORTAL_DIGEST_SCHEDULE": "at eight", "KEYPORTAL_DIGEST_TZ": "Atlantis/Capital"}
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `KEYPORTAL_DIGEST_SCHEDULE="at eight"`) || !strings.Contains(err.Error(), `KEYPORTAL_DIGEST_TZ="Atlantis/Capital"`) {
		t.Errorf("serve with a bad schedule and time zone: %v", err)
	}
}

// keyportal demo sends the digest where the environment gives it a
// destination: here a webhook, and a record in the data directory of a
// digest long ago, so that the one missed since goes out at start. Its
// links lead to the demo, under its base path.
func TestDemoSendsTheDigestWhereADestinationIsGiven(t *testing.T) {
	posted := make(chan string, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&p)
		posted <- p.Text
	}))
	defer hook.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "digest.json"), []byte(`{"slot":"2020-01-01T08:00:00Z","at":"2020-01-01T08:00:00Z"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KEYPORTAL_ADDR": "127.0.0.1:0", "KEYPORTAL_DATA_DIR": dir, "KEYPORTAL_DIGEST_WEBHOOK_URL": hook.URL + "/hook",
		"KEYPORTAL_BASE_PATH": "/kp"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	}()
	text := <-posted
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo stopped with %v", err)
	}
	if !regexp.MustCompile(`http://127\.0\.0\.1:[1-9]\d*/kp/keys\?`).MatchString(text) {
		t.Errorf("the demo's digest does not link to the demo:\n%s", text)
	}
	for _, name := range demoKeysWithin(t, 7*24*time.Hour) {
		if !strings.Contains(text, name) {
			t.Errorf("the demo's digest lacks %q:\n%s", name, text)
		}
	}
}
