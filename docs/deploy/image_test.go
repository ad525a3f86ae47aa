package deploy_test

import (
	"encoding/json"
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

// TestImageIsMakeBuild: the image's build stage runs `make build`, which
// makes a static bin/keyportal (the final stage is distroless/static, with
// no C library), with the Go release of go.mod; the final stage starts
// that very file.
func TestImageIsMakeBuild(t *testing.T) {
	stages := parseDockerfile(t, "../../Dockerfile")
	if len(stages) != 2 {
		t.Fatalf("the Dockerfile has %d stages, want a build stage and a final one", len(stages))
	}
	build, final := stages[0], stages[1]

	var runsMake bool
	for _, run := range build.all("RUN") {
		runsMake = runsMake || regexp.MustCompile(`(^|&&\s*)make build( |$)`).MatchString(run)
	}
	if !runsMake {
		t.Errorf("the build stage does not run `make build`: RUN %q", build.all("RUN"))
	}
	recipe := strings.Join(makeTarget(t, "../../Makefile", "build"), "\n")
	if !strings.Contains(recipe, "CGO_ENABLED=0") || !strings.Contains(recipe, "-o bin/keyportal ./cmd/keyportal") {
		t.Errorf("make build no longer makes a static bin/keyportal:\n%s", recipe)
	}

	goMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if goVersion == nil || build.from != "golang:"+string(goVersion[1])+"-bookworm" {
		t.Errorf("the build stage is FROM %s; go.mod wants Go %s", build.from, goVersion[1])
	}

	workdir := build.all("WORKDIR")
	built := path.Join(workdir[len(workdir)-1], "bin/keyportal")
	var entry []string
	if err := json.Unmarshal([]byte(final.all("ENTRYPOINT")[0]), &entry); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(final.all("COPY"), "--from="+build.name+" "+built+" "+entry[0]) {
		t.Errorf("the final stage does not start the file make build made (%s): COPY %q, ENTRYPOINT %q", built, final.all("COPY"), entry)
	}
}

// TestImageDefaultsAreDocumented: the final stage is distroless and runs as
// a non-root user, its settings pass the configuration's validation,
// EXPOSE, VOLUME and HEALTHCHECK agree with them, and docs/deploy.md's
// table of the image's defaults says the same.
func TestImageDefaultsAreDocumented(t *testing.T) {
	stages := parseDockerfile(t, "../../Dockerfile")
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") {
		t.Errorf("the final stage is FROM %s, want gcr.io/distroless/static", final.from)
	}
	user := final.all("USER")
	if len(user) == 0 || strings.HasPrefix(user[len(user)-1], "root") || strings.HasPrefix(user[len(user)-1], "0") {
		t.Errorf("the image runs as USER %q, want a non-root user", user)
	}

	env := imageEnv(t, "../../Dockerfile")
	env["KEYPORTAL_SESSION_KEYS"] = secretSamples["KEYPORTAL_SESSION_KEYS"] // the one setting an operator must add
	cfg, err := config.Load(func(k string) string { return env[k] }, false)
	if err != nil {
		t.Fatalf("the image's settings are refused:\n%v", err)
	}
	_, port, _ := net.SplitHostPort(cfg.Addr)
	if got := final.all("EXPOSE"); !slices.Equal(got, []string{port}) {
		t.Errorf("EXPOSE %q, but the portal listens on %s", got, cfg.Addr)
	}
	if got := final.all("VOLUME"); !slices.Equal(got, []string{cfg.DataDir}) {
		t.Errorf("VOLUME %q, but the data directory is %s", got, cfg.DataDir)
	}
	if hc := final.all("HEALTHCHECK"); len(hc) != 1 || !strings.HasSuffix(hc[0], `CMD ["/keyportal", "healthcheck"]`) {
		t.Errorf("HEALTHCHECK %q, want the portal's own healthcheck command", hc)
	} else if out, err := exec.Command(builtBinary(t), "healthcheck", "-h").CombinedOutput(); err != nil {
		t.Errorf("keyportal healthcheck -h: %v\n%s", err, out)
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
			t.Errorf("docs/deploy.md (The image) says %s is %q; the Dockerfile sets %q", k, documented[k], v)
		}
	}
	for k := range documented {
		if _, ok := env[k]; !ok {
			t.Errorf("docs/deploy.md (The image) names %s, which the Dockerfile does not set", k)
		}
	}
}
