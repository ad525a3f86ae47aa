// Package testprog finds the programs the integration tests run (caddy,
// redis-server, systemd-analyze) and the free ports they listen on, with
// one policy: a program e2e/setup.sh installs but that is missing skips
// the test, unless KEYPORTAL_E2E asks for the full suite.
package testprog

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

// Need returns the path of program name. Without it the test skips,
// saying why (e.g. "the proxy tests skip"), or, under KEYPORTAL_E2E, fails.
func Need(t testing.TB, name, why string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("KEYPORTAL_E2E") == "" {
			t.Skipf("%s is not installed: %s (make test installs it through e2e/setup.sh)", name, why)
		}
		t.Fatalf("%s is not installed and KEYPORTAL_E2E is set: run e2e/setup.sh", name)
	}
	return path
}

// FreePort is a loopback TCP port nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
