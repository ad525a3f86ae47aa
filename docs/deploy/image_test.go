package deploy_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keyportal/keyportal/internal/config"
)

// stage is one FROM of a Dockerfile and its instructions.
type stage struct {
	from, name string
	steps      []step
}

// step is one instruction: its keyword (upper case) and the rest.
type step struct{ op, args string }

// parseDockerfile reads the stages of a Dockerfile: comments dropped,
// continued lines joined.
func parseDockerfile(t *testing.T, file string) []stage {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var cur string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && cur == "") {
			continue
		}
		if rest, ok := strings.CutSuffix(line, `\`); ok {
			cur += rest + " "
			continue
		}
		cur += line
		op, args, _ := strings.Cut(strings.TrimSpace(cur), " ")
		cur = ""
		op, args = strings.ToUpper(op), strings.TrimSpace(args)
		if op == "FROM" {
			f := strings.Fields(args)
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %s before FROM", file, op)
		}
		stages[len(stages)-1].steps = append(stages[len(stages)-1].steps, step{op, args})
	}
	return stages
}

// all is the arguments of every instruction op of a stage.
func (s stage) all(op string) []string {
	var args []string
	for _, st := range s.steps {
		if st.op == op {
			args = append(args, st.args)
		}
	}
	return args
}

// imageEnv is the environment the image's final stage sets.
func imageEnv(t *testing.T, dockerfile string) map[string]string {
	t.Helper()
	stages := parseDockerfile(t, dockerfile)
	env := map[string]string{}
	for _, e := range stages[len(stages)-1].all("ENV") {
		for _, kv := range strings.Fields(e) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("ENV %s: write ENV KEY=value", e)
			}
			env[k] = strings.Trim(v, `"`)
		}
	}
	return env
}

// makeTarget is the recipe lines of a Makefile target.
func makeTarget(t *testing.T, makefile, target string) []string {
	t.Helper()
	b, err := os.ReadFile(makefile)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, target+":"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			lines = append(lines, strings.TrimSpace(line))
		case in:
			return lines
		}
	}
	return lines
}

// imageProblems is what is wrong with a Dockerfile: its build stage must
// run `make build`, which makes a static bin/keyportal (the final stage is
// distroless/static, with no C library), with the Go release of go.mod;
// the final stage must start that very file, on distroless, as a non-root
// user, with settings the configuration accepts, EXPOSE, VOLUME and
// HEALTHCHECK agreeing with them, and docs/deploy.md's table of the
// image's defaults saying the same.
func imageProblems(t *testing.T, dockerfile string) []string {
	t.Helper()
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	stages := parseDockerfile(t, dockerfile)
	if len(stages) != 2 {
		t.Fatalf("%s has %d stages, want a build stage and a final one", dockerfile, len(stages))
	}
	build, final := stages[0], stages[1]

	var runsMake bool
	for _, run := range build.all("RUN") {
		runsMake = runsMake || regexp.MustCompile(`(^|&&\s*)make build( |$)`).MatchString(run)
	}
	if !runsMake {
		fail("the build stage does not run `make build`: RUN %q", build.all("RUN"))
	}
	recipe := strings.Join(makeTarget(t, "../../Makefile", "build"), "\n")
	if !strings.Contains(recipe, "CGO_ENABLED=0") || !strings.Contains(recipe, "-o bin/keyportal ./cmd/keyportal") {
		fail("make build no longer makes a static bin/keyportal:\n%s", recipe)
	}
	goMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if goVersion == nil || build.from != "golang:"+string(goVersion[1])+"-bookworm" {
		fail("the build stage is FROM %s; go.mod wants Go %s", build.from, goVersion[1])
	}
	workdir := build.all("WORKDIR")
	built := path.Join(workdir[len(workdir)-1], "bin/keyportal")
	var entry []string
	if ep := final.all("ENTRYPOINT"); len(ep) != 1 || json.Unmarshal([]byte(ep[0]), &entry) != nil || len(entry) == 0 {
		fail("ENTRYPOINT %q: want the exec form, e.g. [\"/keyportal\"]", ep)
	} else if !slices.Contains(final.all("COPY"), "--from="+build.name+" "+built+" "+entry[0]) {
		fail("the final stage does not start the file make build made (%s): COPY %q, ENTRYPOINT %q", built, final.all("COPY"), entry)
	}

	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") {
		fail("the final stage is FROM %s, want gcr.io/distroless/static", final.from)
	}
	user := final.all("USER")
	if len(user) == 0 || strings.HasPrefix(user[len(user)-1], "root") || strings.HasPrefix(user[len(user)-1], "0") {
		fail("the image runs as USER %q, want a non-root user", user)
		user = append(user, "")
	}
	env := imageEnv(t, dockerfile)
	env["KEYPORTAL_SESSION_KEYS"] = secretSamples["KEYPORTAL_SESSION_KEYS"] // the one setting an operator must add
	cfg, err := config.Load(func(k string) string { return env[k] }, false)
	if err != nil {
		fail("the image's settings are refused:\n%v", err)
	}
	_, port, _ := net.SplitHostPort(cfg.Addr)
	if got := final.all("EXPOSE"); !slices.Equal(got, []string{port}) {
		fail("EXPOSE %q, but the portal listens on %s", got, cfg.Addr)
	}
	if got := final.all("VOLUME"); !slices.Equal(got, []string{cfg.DataDir}) {
		fail("VOLUME %q, but the data directory is %s", got, cfg.DataDir)
	}
	if hc := final.all("HEALTHCHECK"); len(hc) != 1 || !strings.HasSuffix(hc[0], `CMD ["`+entry[0]+`", "healthcheck"]`) {
		fail("HEALTHCHECK %q, want the portal's own healthcheck command", hc)
	}

	// docs/deploy.md: | `KEYPORTAL_X` | `value` | rows under "The image".
	doc, err := os.ReadFile("../deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "\n## The image")
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\| `([^`]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented[m[1]] = m[2]
	}
	delete(env, "KEYPORTAL_SESSION_KEYS")
	env["USER"] = user[len(user)-1]
	for k, v := range env {
		if documented[k] != v {
			fail("docs/deploy.md (The image) says %s is %q; the Dockerfile sets %q", k, documented[k], v)
		}
	}
	for k := range documented {
		if _, ok := env[k]; !ok {
			fail("docs/deploy.md (The image) names %s, which the Dockerfile does not set", k)
		}
	}
	return problems
}

// TestImageIsMakeBuildWithTheDocumentedDefaults checks the Dockerfile, and
// that the healthcheck command its HEALTHCHECK runs exists.
func TestImageIsMakeBuildWithTheDocumentedDefaults(t *testing.T) {
	for _, p := range imageProblems(t, "../../Dockerfile") {
		t.Error(p)
	}
	if out, err := exec.Command(builtBinary(t), "healthcheck", "-h").CombinedOutput(); err != nil {
		t.Errorf("keyportal healthcheck -h: %v\n%s", err, out)
	}
}

// TestDriftedImageFails: a Dockerfile that builds its own way, on another
// Go, from another base, as root, with settings the docs do not state, is
// caught on each count.
func TestDriftedImageFails(t *testing.T) {
	got := strings.Join(imageProblems(t, "testdata/drifted/Dockerfile"), "\n")
	for _, want := range []string{
		"the build stage does not run `make build`",
		"the build stage is FROM golang:1.25-bookworm",
		"the final stage does not start the file make build made",
		"the final stage is FROM debian:bookworm-slim",
		"the image runs as USER [\"root\"]",
		"EXPOSE [\"8080\"], but the portal listens on 0.0.0.0:9090",
		"VOLUME [\"/var/lib/keyportal\"], but the data directory is /data",
		"docs/deploy.md (The image) says KEYPORTAL_ADDR is \"0.0.0.0:8080\"; the Dockerfile sets \"0.0.0.0:9090\"",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the drifted Dockerfile is not caught: want a problem containing %q; got:\n%s", want, got)
		}
	}
}
