// Package caddytest runs a real Caddy (Debian's package) in front of the
// portal in tests: a reverse proxy that terminates TLS is where sub-paths,
// Secure cookies, HSTS and forwarded client addresses either work or do
// not, and only a real one shows which.
package caddytest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyportal/keyportal/internal/testprog"
)

// Proxy is a caddy process serving https://127.0.0.1:<port> with a
// certificate from its own internal CA, for one test.
type Proxy struct {
	URL string // https://127.0.0.1:port, no trailing slash
	cmd *exec.Cmd
	mu  sync.Mutex
	log strings.Builder
}

// Start runs caddy with site as the body of the site block of
// https://127.0.0.1:<a free port> (for example a reverse_proxy directive),
// and stops it, by its PID, when the test ends. Its data and state live in
// a temporary directory (never /root or /var), it installs its CA into no
// trust store, and it serves no admin endpoint. Without caddy the test
// skips, unless KEYPORTAL_E2E asks for the full suite (e2e/setup.sh
// installs it).
func Start(t testing.TB, site string) *Proxy {
	t.Helper()
	exe := testprog.Need(t, "caddy", "the proxy tests skip")
	dir := t.TempDir()
	https, plain := testprog.FreePort(t), testprog.FreePort(t)
	caddyfile := fmt.Sprintf(`{
	admin off
	skip_install_trust
	local_certs
	auto_https disable_redirects
	log {
		level DEBUG
	}
	http_port %d
	https_port %d
	storage file_system %s
	servers {
		protocols h1 h2
	}
}

https://127.0.0.1:%d {
	bind 127.0.0.1
	tls internal
	%s
}
`, plain, https, filepath.Join(dir, "data"), https, site)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "run", "--adapter", "caddyfile", "--config", path)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proxy{URL: "https://127.0.0.1:" + strconv.Itoa(https), cmd: cmd}
	t.Cleanup(p.Stop)
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			// Caddy listens first and has its CA sign the certificate
			// just after; a handshake before it is in the cache fails.
			// Only the debug log says when it is.
			if !signalled && strings.Contains(sc.Text(), "added certificate to cache") {
				ready <- true
				signalled = true
			}
		}
		if !signalled {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("caddy exited before it served:\n%s", p.Log())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("caddy did not say it was serving within 30 s:\n%s", p.Log())
	}
	return p
}

// Log is what caddy has written so far.
func (p *Proxy) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Stop ends caddy by its PID and waits for it.
func (p *Proxy) Stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}
