// Package deploy_test keeps the deployment recipes beside it true to the
// code: every recipe is parsed, each KEYPORTAL_ variable it names must be
// one the configuration reads, its settings must pass the configuration's
// validation, and each probe, upstream or ingress path and port must be one
// that a portal configured as the recipe says really serves. A recipe that
// drifts from the code fails here rather than in someone's cluster.
package deploy_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

// recipe is what the checks need to know of one deployment recipe, as its
// files say it.
type recipe struct {
	name string
	// names is every KEYPORTAL_ name written anywhere in its files,
	// comments included: an operator copies those too.
	names []string
	// env is the portal's environment: the image's defaults (for
	// container recipes) overlaid with the recipe's own settings.
	env map[string]string
	// probes are paths a health checker polls on the portal's port: each
	// must answer 200.
	probes []target
	// entries are paths through which people reach the portal (an
	// Ingress, a proxy's route): each must be served, not a 404.
	entries []string
	// ports are the ports the recipe sends traffic to: each must be the
	// one the portal listens on.
	ports []target
	// problems are what the recipe's own loader found wrong.
	problems []string
}

// target is a path or port and where the recipe names it, for messages.
type target struct {
	where string
	path  string
	port  int
}

// secretSamples stands in for the files an operator creates: the recipes
// name the files (_FILE variables), never their contents.
var secretSamples = map[string]string{
	"KEYPORTAL_SESSION_KEYS":     portaltest.NewSessionKey(),
	"KEYPORTAL_SESSION_STORE":    "redis://:sample-password@redis:6379/0",
	"KEYPORTAL_WATCH_TOKEN":      "sample-balena-token",
	"KEYPORTAL_METRICS_PASSWORD": "sample-password",
	"KEYPORTAL_DATABASE_URL":     "postgres://keyportal:sample-password@postgres:5432/keyportal",
}

var keyportalName = regexp.MustCompile(`KEYPORTAL_[A-Z0-9_]*[A-Z0-9]`)

// namesIn lists the KEYPORTAL_ names written in files.
func namesIn(t *testing.T, files ...string) []string {
	t.Helper()
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range keyportalName.FindAllString(string(b), -1) {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

// recipeConfig is the configuration the portal reads from r's
// environment, with the files its _FILE variables name replaced by samples
// of their contents, and what is wrong with r's names and settings. A
// refused setting keeps its default, so that paths and ports are still
// checked.
func recipeConfig(t *testing.T, r recipe) (config.Config, []string) {
	t.Helper()
	problems := slices.Clone(r.problems)
	known := config.Variables()
	for _, n := range r.names {
		if !slices.Contains(known, n) {
			problems = append(problems, fmt.Sprintf("names %s, which the configuration does not know", n))
		}
	}
	// Secrets go through files (credentials, Compose or Kubernetes
	// secrets), never the environment, where any process of the same user,
	// `docker inspect` or a pod's spec shows them.
	for k := range r.env {
		if slices.Contains(known, k+"_FILE") {
			problems = append(problems, fmt.Sprintf("%s is a secret: give it through %s_FILE", k, k))
		}
	}

	dir := t.TempDir()
	env := map[string]string{}
	for k, v := range r.env {
		name, isFile := strings.CutSuffix(k, "_FILE")
		if !isFile {
			env[k] = v
			continue
		}
		sample, ok := secretSamples[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: the test has no sample contents for this file; add one to secretSamples", k))
			continue
		}
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(sample+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env[k] = f
	}
	cfg, err := config.Load(func(k string) string { return env[k] }, false)
	if err != nil {
		problems = append(problems, fmt.Sprintf("the configuration refuses its settings:\n%v", err))
	}
	return cfg, problems
}

// portalAs starts a real portal configured as cfg says, against the balena
// stand-in (replicaOf's, if given), with its sessions and audit trail in
// files of its own (the recipes' Redis and PostgreSQL are not here).
func portalAs(cfg config.Config, replicaOf *portaltest.Env) (*portaltest.Env, error) {
	return portaltest.New(portaltest.Options{ReplicaOf: replicaOf, Config: func(c *config.Config) {
		own := *c
		*c = cfg
		c.BalenaAPIURL, c.DataDir, c.SessionKeys, c.SessionStore, c.DatabaseURL = own.BalenaAPIURL, own.DataDir, own.SessionKeys, "", ""
		if c.AuditFile != "" {
			c.AuditFile = filepath.Join(own.DataDir, "audit.jsonl")
		}
	}})
}

// check returns what is wrong with r: unknown names, secrets in the
// environment, settings the configuration refuses, and paths or ports the
// portal does not serve.
func check(t *testing.T, r recipe) []string {
	t.Helper()
	cfg, problems := recipeConfig(t, r)
	_, portText, _ := net.SplitHostPort(cfg.Addr)
	port, _ := strconv.Atoi(portText)
	for _, p := range append(slices.Clone(r.ports), r.probes...) {
		if p.port != 0 && p.port != port {
			problems = append(problems, fmt.Sprintf("%s: port %d, but the portal listens on %d (KEYPORTAL_ADDR=%s)", p.where, p.port, port, cfg.Addr))
		}
	}

	portal, err := portalAs(cfg, nil)
	if err != nil {
		return append(problems, fmt.Sprintf("the portal does not start with its settings: %v", err))
	}
	defer portal.Close()
	// A probe must answer itself, not redirect to the sign-in page.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range r.probes {
		res, err := noRedirect.Get(portal.URL + p.path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			problems = append(problems, fmt.Sprintf("%s: GET %s answers %d, want 200", p.where, p.path, res.StatusCode))
		}
	}
	// An entry must lead, through the portal's redirects, to its sign-in
	// page under that same entry.
	for _, entry := range r.entries {
		res, err := http.Get(portal.URL + entry)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if landed := res.Request.URL.Path; res.StatusCode != http.StatusOK || !strings.HasPrefix(landed, strings.TrimSuffix(entry, "/")+"/") {
			problems = append(problems, fmt.Sprintf("entry %s: the portal leads to %s (%d), outside it", entry, landed, res.StatusCode))
		}
	}
	return problems
}

// TestRecipesMatchTheCode checks every recipe in this directory.
func TestRecipesMatchTheCode(t *testing.T) {
	image := imageEnv(t, "../../Dockerfile")
	for _, r := range []recipe{
		loadUnit(t, "."),
		loadCompose(t, ".", image),
		loadKube(t, "kubernetes", image),
	} {
		t.Run(r.name, func(t *testing.T) {
			for _, p := range check(t, r) {
				t.Error(p)
			}
		})
	}
	t.Run("deploy.md", func(t *testing.T) {
		known := config.Variables()
		for _, n := range namesIn(t, "../deploy.md") {
			if !slices.Contains(known, n) {
				t.Errorf("names %s, which the configuration does not know", n)
			}
		}
	})
}

// TestDriftedRecipesFail runs the same checks on copies of the recipes in
// testdata/drifted, each changed the way recipes drift (a renamed
// variable, a value the portal refuses, a probe or route on a path or port
// it does not serve, outside its base path), and wants each change caught.
func TestDriftedRecipesFail(t *testing.T) {
	image := imageEnv(t, "../../Dockerfile")
	dir := filepath.Join("testdata", "drifted")
	for _, tc := range []struct {
		r    recipe
		want []string
	}{
		{loadUnit(t, dir), []string{
			"names KEYPORTAL_SESION_KEYS_FILE, which the configuration does not know",
			`KEYPORTAL_COOKIE_SECURE="yes please": want true or false`,
			"names credential session-key that no LoadCredential= loads",
			"KEYPORTAL_WATCH_TOKEN is a secret: give it through KEYPORTAL_WATCH_TOKEN_FILE",
		}},
		{loadCompose(t, dir, image), []string{
			"names KEYPORTAL_LISTEN_ADDR, which the configuration does not know",
			"Caddyfile reverse_proxy keyportal-2:8081: port 8081, but the portal listens on 8080",
			"Caddyfile health_uri: GET /keyportal/health answers",
			"entry /kp: the portal leads to",
			"the trusted proxies (KEYPORTAL_TRUSTED_PROXIES) do not include Caddy's address 172.30.0.10",
		}},
		{loadKube(t, filepath.Join(dir, "kubernetes"), image), []string{
			"Deployment keyportal readinessProbe: GET /readyz answers",
			"entry /key-portal: the portal leads to",
			"Deployment keyportal livenessProbe: port 9090, but the portal listens on 8080",
			`KEYPORTAL_IDLE_TIMEOUT=30s: want at least 1m0s`,
			"Deployment keyportal: readOnlyRootFilesystem is not true",
			`Deployment redis: error unmarshaling JSON: while decoding JSON: json: unknown field "readinesProbe"`,
			"KEYPORTAL_SESSION_STORE_FILE=/run/secrets/keyportal/session-store: no Secret key is mounted there",
		}},
	} {
		t.Run(tc.r.name, func(t *testing.T) {
			got := strings.Join(check(t, tc.r), "\n")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("the drifted recipe is not caught: want a problem containing %q; got:\n%s", w, got)
				}
			}
		})
	}
}
