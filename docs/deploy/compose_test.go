package deploy_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/keyportal/keyportal/internal/config"
)

// composeFile is the part of a Compose file the checks read.
type composeFile struct {
	Services map[string]struct {
		Image       string            `json:"image"`
		Environment map[string]string `json:"environment"`
		Secrets     []string          `json:"secrets"`
		Volumes     []string          `json:"volumes"`
		// A list of names, or a map of name to settings.
		Networks json.RawMessage `json:"networks"`
	} `json:"services"`
	Secrets map[string]struct {
		File string `json:"file"`
	} `json:"secrets"`
}

// loadCompose reads compose.yaml and the Caddyfile it mounts from dir;
// image is the environment the portal's image sets.
func loadCompose(t *testing.T, dir string, image map[string]string) recipe {
	t.Helper()
	r := recipe{name: "compose", env: maps.Clone(image)}
	composePath, caddyPath := filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "Caddyfile")
	b, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	r.names = namesIn(t, composePath, caddyPath)

	var portals []string
	caddyAddr := ""
	for name, s := range c.Services {
		if strings.Contains(s.Image, "caddy") {
			if !slices.Contains(s.Volumes, "./Caddyfile:/etc/caddy/Caddyfile:ro") {
				r.problems = append(r.problems, fmt.Sprintf("service %s does not mount ./Caddyfile", name))
			}
			var nets map[string]struct {
				IPv4 string `json:"ipv4_address"`
			}
			if err := json.Unmarshal(s.Networks, &nets); err == nil {
				for _, n := range nets {
					caddyAddr = n.IPv4
				}
			}
		}
		if !strings.Contains(s.Image, "keyportal") {
			continue
		}
		portals = append(portals, name)
		for k, v := range s.Environment {
			r.env[k] = v // every replica is the same anchor; a difference shows below
			if file, ok := strings.CutPrefix(v, "/run/secrets/"); ok && (!slices.Contains(s.Secrets, file) || c.Secrets[file].File == "") {
				r.problems = append(r.problems, fmt.Sprintf("service %s: %s=%s is not one of its secrets", name, k, v))
			}
		}
	}
	sort.Strings(portals)
	if len(portals) < 2 {
		r.problems = append(r.problems, fmt.Sprintf("%d portal services (%v), want two replicas", len(portals), portals))
	}
	for _, name := range portals {
		if env := c.Services[name].Environment; fmt.Sprint(env) != fmt.Sprint(c.Services[portals[0]].Environment) {
			r.problems = append(r.problems, fmt.Sprintf("services %s and %s are configured differently", portals[0], name))
		}
	}

	// Caddy forwards to every replica, on the portal's port, and keeps a
	// replica out while its health check fails.
	caddy, err := os.ReadFile(caddyPath)
	if err != nil {
		t.Fatal(err)
	}
	var upstreams []string
	for _, m := range regexp.MustCompile(`(?m)^\s*reverse_proxy\s+([^{\n]*)`).FindAllStringSubmatch(string(caddy), -1) {
		for _, u := range strings.Fields(m[1]) {
			host, port, err := net.SplitHostPort(u)
			p, _ := strconv.Atoi(port)
			if err != nil || p == 0 {
				r.problems = append(r.problems, fmt.Sprintf("Caddyfile reverse_proxy %s: want host:port", u))
				continue
			}
			upstreams = append(upstreams, host)
			r.ports = append(r.ports, target{where: "Caddyfile reverse_proxy " + u, port: p})
		}
	}
	sort.Strings(upstreams)
	if !slices.Equal(upstreams, portals) {
		r.problems = append(r.problems, fmt.Sprintf("Caddyfile forwards to %v; the portal services are %v", upstreams, portals))
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*health_uri\s+(\S+)`).FindAllStringSubmatch(string(caddy), -1) {
		r.probes = append(r.probes, target{where: "Caddyfile health_uri", path: m[1]})
	}
	r.entries = caddyEntries(string(caddy))

	// Caddy's address must be trusted, or every client looks like Caddy.
	if ip := net.ParseIP(caddyAddr); ip == nil || !trusts(r.env["KEYPORTAL_TRUSTED_PROXIES"], ip) {
		r.problems = append(r.problems, fmt.Sprintf("the trusted proxies (KEYPORTAL_TRUSTED_PROXIES) do not include Caddy's address %s", caddyAddr))
	}
	return r
}

// caddyEntries is the paths a Caddyfile routes to the portal: those of its
// handle blocks and path matchers, or the root.
func caddyEntries(caddyfile string) []string {
	var entries []string
	handle := regexp.MustCompile(`(?m)^\s*handle(?:_path)?\s+(/\S*)\s*\{`)
	matcher := regexp.MustCompile(`(?m)^\s*@\S+\s+path\s+(.+)$`)
	for _, m := range handle.FindAllStringSubmatch(caddyfile, -1) {
		entries = append(entries, strings.TrimSuffix(m[1], "*"))
	}
	for _, m := range matcher.FindAllStringSubmatch(caddyfile, -1) {
		for _, p := range strings.Fields(m[1]) {
			entries = append(entries, strings.TrimSuffix(p, "*"))
		}
	}
	if len(entries) == 0 {
		entries = []string{"/"}
	}
	return entries
}

// trusts reports whether the portal, given a KEYPORTAL_TRUSTED_PROXIES
// list, trusts ip's X-Forwarded-For.
func trusts(list string, ip net.IP) bool {
	env := map[string]string{"KEYPORTAL_TRUSTED_PROXIES": list, "KEYPORTAL_SESSION_KEYS": secretSamples["KEYPORTAL_SESSION_KEYS"]}
	cfg, _ := config.Load(func(k string) string { return env[k] }, false)
	for _, n := range cfg.TrustedProxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// TestCaddyfileIsValid: Caddy itself (Debian's package; e2e/setup.sh
// installs it) reads the Caddyfile and validates its configuration, and
// refuses a mistyped directive.
func TestCaddyfileIsValid(t *testing.T) {
	caddy, err := exec.LookPath("caddy")
	if err != nil {
		t.Fatal("caddy is missing: run e2e/setup.sh (make e2e-deps)")
	}
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
