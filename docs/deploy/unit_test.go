package deploy_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// loadUnit reads keyportal.service and the environment file it names from
// dir. Systemd specifiers are resolved as systemd would for a system
// service: %d is its credentials directory, %S /var/lib.
func loadUnit(t *testing.T, dir string) recipe {
	t.Helper()
	unitPath := filepath.Join(dir, "keyportal.service")
	r := recipe{name: "systemd", env: map[string]string{}}
	settings := unitSettings(t, unitPath)
	credentials := map[string]bool{}
	for _, c := range settings["LoadCredential"] {
		name, _, _ := strings.Cut(c, ":")
		credentials[name] = true
	}
	files := []string{unitPath}
	for _, f := range settings["EnvironmentFile"] {
		// Installed as /etc/keyportal/<name>; shipped beside the unit.
		local := filepath.Join(dir, filepath.Base(strings.TrimPrefix(f, "-")))
		files = append(files, local)
		for _, line := range readLines(t, local) {
			if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
				r.env[k] = strings.Trim(v, `"'`) // systemd drops the quotes
			}
		}
	}
	credential := regexp.MustCompile(`%d/([^/\s]+)`)
	for _, assignment := range settings["Environment"] {
		for _, kv := range strings.Fields(assignment) {
			k, v, _ := strings.Cut(strings.Trim(kv, `"`), "=")
			for _, m := range credential.FindAllStringSubmatch(v, -1) {
				if !credentials[m[1]] {
					r.problems = append(r.problems, fmt.Sprintf("%s names credential %s that no LoadCredential= loads", k, m[1]))
				}
			}
			r.env[k] = strings.NewReplacer("%d", "/run/credentials/keyportal.service", "%S", "/var/lib").Replace(v)
		}
	}
	if state := settings["StateDirectory"]; len(state) != 1 || r.env["KEYPORTAL_DATA_DIR"] != "/var/lib/"+state[0] {
		r.problems = append(r.problems, fmt.Sprintf("KEYPORTAL_DATA_DIR=%s is not the unit's StateDirectory=%v", r.env["KEYPORTAL_DATA_DIR"], state))
	}
	r.names = namesIn(t, files...)
	return r
}

// unitSettings is every Key=value of a unit file, comments left out.
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	settings := map[string][]string{}
	for _, line := range readLines(t, path) {
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") || strings.HasPrefix(line, "[") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			settings[strings.TrimSpace(k)] = append(settings[strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return settings
}

// readLines is a file's non-blank lines, trimmed.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// builtBinary is a build of cmd/keyportal, made once into a directory of
// the test binary's own.
func builtBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "keyportal-deploy-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "keyportal")
		// Built as `go test` builds (not `make build`'s flags), so that it
		// reuses the packages this very test compiled.
		cmd := exec.Command("go", "build", "-o", binary, "./cmd/keyportal")
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// installedUnit writes the unit into a temporary directory as it would run
// here: ExecStart names a real build of the portal rather than
// /usr/local/bin/keyportal, which this machine does not have.
func installedUnit(t *testing.T, file string) string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	const installed = "ExecStart=/usr/local/bin/keyportal "
	if !strings.Contains(string(src), installed) {
		t.Fatalf("keyportal.service does not start %q: the install steps in it and in docs/deploy.md say so", installed)
	}
	unit := filepath.Join(t.TempDir(), "keyportal.service")
	text := strings.Replace(string(src), installed, "ExecStart="+builtBinary(t)+" ", 1)
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return unit
}

// TestUnitPassesSystemdVerify: systemd itself reads the unit and finds no
// unknown setting, bad value or missing program (any warning fails).
func TestUnitPassesSystemdVerify(t *testing.T) {
	if out, err := verify(t, "keyportal.service"); err != nil || out != "" {
		t.Fatalf("systemd-analyze verify keyportal.service: %v\n%s", err, out)
	}
	// The command it starts is one the portal has: its usage exits 0.
	args := strings.Fields(unitSettings(t, "keyportal.service")["ExecStart"][0])[1:]
	if out, err := exec.Command(builtBinary(t), append(args, "-h")...).CombinedOutput(); err != nil {
		t.Errorf("ExecStart runs keyportal %s, which it does not know: %v\n%s", strings.Join(args, " "), err, out)
	}
	// And it says so when a setting is mistyped.
	out, _ := verify(t, "testdata/drifted/keyportal.service")
	if !strings.Contains(out, "Unknown key 'ProtectSystm'") {
		t.Errorf("systemd-analyze verify let the drifted unit's ProtectSystm= pass:\n%s", out)
	}
}

// verify runs systemd-analyze verify on an installed copy of a unit.
func verify(t *testing.T, unit string) (string, error) {
	t.Helper()
	out, err := exec.Command(systemdAnalyze(t), "verify", installedUnit(t, unit)).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestUnitExposureIsAsDocumented: `systemd-analyze security` rates the
// unit's hardening no worse than docs/deploy.md says.
func TestUnitExposureIsAsDocumented(t *testing.T) {
	out, err := exec.Command(systemdAnalyze(t), "security", "--offline=true", installedUnit(t, "keyportal.service")).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for keyportal\.service: ([0-9.]+) (\w+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	measured, _ := strconv.ParseFloat(string(m[1]), 64)
	doc, err := os.ReadFile("../deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	d := regexp.MustCompile(`exposure level of \*\*([0-9.]+) (\w+)\*\*`).FindSubmatch(doc)
	if d == nil {
		t.Fatal("docs/deploy.md states no exposure level (want `exposure level of **N.N OK**`)")
	}
	documented, _ := strconv.ParseFloat(string(d[1]), 64)
	if measured > documented {
		t.Errorf("systemd-analyze security rates keyportal.service %s %s; docs/deploy.md promises at most %s %s", m[1], m[2], d[1], d[2])
	}
	t.Logf("exposure level %s %s (documented: %s %s)", m[1], m[2], d[1], d[2])
}

// systemdAnalyze is the path of systemd-analyze (Debian's systemd).
func systemdAnalyze(t *testing.T) string { return tool(t, "systemd-analyze") }

// TestMain removes the build builtBinary made.
func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}
