package deploy_test

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/keyportal/keyportal/internal/config"
)

// loadCompose reads compose.yaml, with the loader of Compose itself
// (compose-go: the Compose Specification's schema, anchors, defaults), and
// the Caddyfile it mounts, from dir; image is the environment the
// portal's image sets.
func loadCompose(t *testing.T, dir string, image map[string]string) recipe {
	t.Helper()
	composePath, caddyPath := filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "Caddyfile")
	r := recipe{name: "compose", env: maps.Clone(image), names: namesIn(t, composePath, caddyPath)}
	fail := func(format string, args ...any) { r.problems = append(r.problems, fmt.Sprintf(format, args...)) }
	project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: composePath}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("keyportal", true) })
	if err != nil {
		fail("%s: %v", composePath, err)
		return r
	}

	var portals []string
	caddyAddr := ""
	envs := map[string]string{}
	for name, s := range project.Services {
		if strings.Contains(s.Image, "caddy") {
			if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
				return v.Target == "/etc/caddy/Caddyfile" && filepath.Base(v.Source) == "Caddyfile"
			}) {
				fail("service %s does not mount ./Caddyfile", name)
			}
			for _, n := range s.Networks {
				if n != nil && n.Ipv4Address != "" {
					caddyAddr = n.Ipv4Address
				}
			}
		}
		if !strings.Contains(s.Image, "keyportal") {
			continue
		}
		portals = append(portals, name)
		secrets := map[string]string{} // where it is in the container: the secret's file
		for _, sc := range s.Secrets {
			target := sc.Target
			if !strings.HasPrefix(target, "/") {
				target = "/run/secrets/" + cmp.Or(target, sc.Source)
			}
			secrets[target] = project.Secrets[sc.Source].File
		}
		var env []string
		for k, v := range s.Environment {
			if v == nil {
				continue
			}
			r.env[k] = *v
			env = append(env, k+"="+*v)
			if strings.HasSuffix(k, "_FILE") && secrets[*v] == "" {
				fail("service %s: %s=%s is not one of its secrets", name, k, *v)
			}
		}
		sort.Strings(env)
		envs[name] = strings.Join(env, " ")
	}
	sort.Strings(portals)
	if len(portals) < 2 {
		fail("%d portal services (%v), want two replicas", len(portals), portals)
	}
	for _, name := range portals {
		if envs[name] != envs[portals[0]] {
			fail("services %s and %s are configured differently", portals[0], name)
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
				fail("Caddyfile reverse_proxy %s: want host:port", u)
				continue
			}
			upstreams = append(upstreams, host)
			r.ports = append(r.ports, target{where: "Caddyfile reverse_proxy " + u, port: p})
		}
	}
	sort.Strings(upstreams)
	if !slices.Equal(upstreams, portals) {
		fail("Caddyfile forwards to %v; the portal services are %v", upstreams, portals)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*health_uri\s+(\S+)`).FindAllStringSubmatch(string(caddy), -1) {
		r.probes = append(r.probes, target{where: "Caddyfile health_uri", path: m[1]})
	}
	r.entries = caddyEntries(string(caddy))

	// Caddy's address must be trusted, or every client looks like Caddy.
	if ip := net.ParseIP(caddyAddr); ip == nil || !trusts(r.env["KEYPORTAL_TRUSTED_PROXIES"], ip) {
		fail("the trusted proxies (KEYPORTAL_TRUSTED_PROXIES) do not include Caddy's address %s", caddyAddr)
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

// TestComposeSchemaCatchesAMistypedSetting: a setting Compose does not know
// fails the recipe, as `docker compose config` would fail it.
func TestComposeSchemaCatchesAMistypedSetting(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"compose.yaml", "Caddyfile"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte(strings.Replace(string(b), "read_only:", "read_onyl:", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := loadCompose(t, dir, imageEnv(t, "../../Dockerfile"))
	if got := strings.Join(r.problems, "\n"); !strings.Contains(got, "read_onyl") {
		t.Errorf("a mistyped read_only passes: %q", got)
	}
}
