// Package redistest runs a real redis-server for tests: both the session
// store's own tests and the web layer's replica tests need one, and a stub
// would not show what a real Redis does when it goes away.
package redistest

import (
	"bufio"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyportal/keyportal/internal/testprog"
)

// Server is a redis-server on a free loopback port, for one test.
type Server struct {
	URL  string // redis://127.0.0.1:port/0
	Addr string // 127.0.0.1:port
	exe  string
	port string
	dir  string
	cmd  *exec.Cmd
}

// Start runs redis-server (installed by e2e/setup.sh, which make test
// runs) and stops it, by its PID, when the test ends. Without redis-server
// the test skips, unless KEYPORTAL_E2E asks for the full suite.
func Start(t testing.TB) *Server {
	t.Helper()
	exe := testprog.Need(t, "redis-server", "the Redis session tests skip")
	port := strconv.Itoa(testprog.FreePort(t))
	r := &Server{URL: "redis://127.0.0.1:" + port + "/0", Addr: "127.0.0.1:" + port, exe: exe, port: port, dir: t.TempDir()}
	t.Cleanup(r.Stop)
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	return r
}

// start runs redis-server and waits until its log says it is ready.
func (r *Server) start() error {
	cmd := exec.Command(r.exe, "--bind", "127.0.0.1", "--port", r.port, "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--daemonize", "no", "--loglevel", "notice")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	r.cmd = cmd
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				ready <- true
				break
			}
		}
		ready <- false
		for sc.Scan() { // keep draining so redis never blocks on its log
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			return errors.New("redis-server exited before it was ready")
		}
	case <-time.After(15 * time.Second):
		r.Stop()
		return errors.New("redis-server did not say it was ready within 15 s")
	}
	return nil
}

// Stop ends the server by its PID and waits for it.
func (r *Server) Stop() {
	if r.cmd == nil || r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_ = r.cmd.Wait()
}

// Restart starts the stopped server again on the same port, empty (it
// keeps nothing on disk), as a Redis back from a failover or an upgrade.
func (r *Server) Restart(t testing.TB) {
	t.Helper()
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
}
