package deploy_test

import (
	"crypto/tls"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/caddytest"
	"github.com/keyportal/keyportal/internal/testprog"
)

// TestCaddyfileIsValid: Caddy itself (Debian's package; e2e/setup.sh
// installs it) reads the Caddyfile and validates its configuration, and
// refuses a mistyped directive.
func TestCaddyfileIsValid(t *testing.T) {
	caddy := tool(t, "caddy")
	adapt := func(file string) (string, error) {
		cmd := exec.Command(caddy, "adapt", "--adapter", "caddyfile", "--validate", "--config", file)
		home := t.TempDir() // Caddy's storage, never the user's
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+home, "XDG_CONFIG_HOME="+home)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := adapt("Caddyfile"); err != nil {
		t.Fatalf("caddy adapt --validate: %v\n%s", err, out)
	}
	src, err := os.ReadFile("Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(typo, []byte(strings.Replace(string(src), "health_uri", "health_url", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := adapt(typo); err == nil || !strings.Contains(out, "unrecognized subdirective health_url") {
		t.Errorf("caddy accepted a mistyped health_uri: %v\n%s", err, out)
	}
}

// TestCaddyfileServesBothReplicas runs the recipe's site block in a real
// Caddy, in front of two real portals configured as compose.yaml says
// (the stand-in for balena, loopback for the Compose network): the
// portal's pages come through under its path, and requests go to both.
func TestCaddyfileServesBothReplicas(t *testing.T) {
	r := loadCompose(t, ".", imageEnv(t, "../../Dockerfile"))
	cfg, problems := recipeConfig(t, r)
	if len(problems) > 0 {
		t.Fatalf("compose.yaml: %q", problems)
	}
	first, err := portalAs(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := portalAs(cfg, first)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()

	src, err := os.ReadFile("Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	// The site block's body, its upstreams swapped for the two portals.
	site := regexp.MustCompile(`(?s)\n[^#\s][^\n]*\{\n(.*)\n\}`).FindStringSubmatch(string(src))
	upstreams := regexp.MustCompile(`reverse_proxy\s+(\S+)\s+(\S+)\s*\{`).FindStringSubmatch(string(src))
	if site == nil || upstreams == nil {
		t.Fatalf("no site block with a reverse_proxy to two upstreams in the Caddyfile:\n%s", src)
	}
	body := strings.NewReplacer(upstreams[1], strings.TrimPrefix(first.URL, "http://"),
		upstreams[2], strings.TrimPrefix(second.URL, "http://")).Replace(site[1])
	proxy := caddytest.Start(t, body)

	// Caddy's certificate comes from its own internal CA, on loopback.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	// What people type, with and without the slash, leads to sign-in.
	for _, entry := range append(r.entries, cfg.BasePath, cfg.BasePath+"/") {
		res, err := client.Get(proxy.URL + entry)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if want := cfg.BasePath + "/signin"; res.StatusCode != http.StatusOK || res.Request.URL.Path != want {
			t.Errorf("GET %s through Caddy ends at %s (%d), want the sign-in page %s\n%s", entry, res.Request.URL.Path, res.StatusCode, want, proxy.Log())
		}
	}
	signin := cfg.BasePath + "/signin"
	for range 4 {
		res, err := client.Get(proxy.URL + signin)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s through Caddy: %d", signin, res.StatusCode)
		}
	}
	for i, p := range []*portaltest.Env{first, second} {
		if !strings.Contains(p.Logs.String(), "path="+signin) {
			t.Errorf("replica %d served no %s: Caddy does not spread requests over both", i+1, signin)
		}
	}
}

// tool is the path of a program the checks run: e2e/setup.sh installs it.
// Without it, a plain `go test` skips the check, and `make test`
// (KEYPORTAL_E2E) fails.
func tool(t *testing.T, name string) string {
	t.Helper()
	return testprog.Need(t, name, "skipped")
}
