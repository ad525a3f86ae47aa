// Package pgtest runs a real PostgreSQL server for tests, as redistest does
// for Redis: the audit store's suite runs on it, and only a real server
// shows what the portal does when its database goes away mid-request.
package pgtest

import (
	"bufio"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// Server is a PostgreSQL server on a free loopback port, in a temporary
// directory, for one test.
type Server struct {
	Port int
	bin  string
	dir  string
	uid  *syscall.Credential // nil unless the test runs as root
	cmd  *exec.Cmd
	n    atomic.Int64
}

// Start initialises a cluster and runs postgres (Debian's package, which
// e2e/setup.sh installs), and stops it when the test ends. PostgreSQL
// refuses to run as root, which CI is: then the server runs as nobody, in a
// directory nobody owns. A server that cannot start skips the test, unless
// CI=true or KEYPORTAL_E2E asks for the full suite.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Run()
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("KEYPORTAL_E2E") != "" {
			t.Fatal(err)
		}
		t.Skip(err.Error() + " (make test installs PostgreSQL through e2e/setup.sh)")
	}
	t.Cleanup(s.Close)
	return s
}

// Run is Start for a program rather than a test (the bench): Close stops
// the server and removes its directory.
func Run() (*Server, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		return nil, errors.New("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): the PostgreSQL tests cannot run")
	}
	sort.Slice(bins, func(i, j int) bool { return version(bins[i]) > version(bins[j]) })
	s := &Server{bin: filepath.Dir(bins[0])}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			return fail(fmt.Errorf("running as root and there is no user nobody to run PostgreSQL as: %w", err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.uid = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(err)
		}
	}
	initdb := s.command("initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb failed: %v\n%s", err, out))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := s.start(); err != nil {
		return fail(err)
	}
	return s, nil
}

// Close stops the server and removes its directory.
func (s *Server) Close() {
	s.Stop()
	os.RemoveAll(s.dir)
}

// version is the major version in a path /usr/lib/postgresql/N/bin/postgres.
func version(p string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
	return n
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	if s.uid != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.uid}
	}
	return cmd
}

// start runs postgres and waits until its log says it accepts connections.
// Durability is off: a test's data need not survive a crash.
func (s *Server) start() error {
	cmd := s.command("postgres", "-D", s.data(), "-p", strconv.Itoa(s.Port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	out, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres did not start: %w", err)
	}
	s.cmd = cmd
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var log strings.Builder
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "database system is ready to accept connections") {
				ready <- ""
				break
			}
		}
		ready <- "its log:\n" + log.String()
		_, _ = io.Copy(io.Discard, out) // keep draining so postgres never blocks on its log
	}()
	select {
	case log := <-ready:
		if log != "" {
			_ = cmd.Wait()
			return fmt.Errorf("postgres exited before it was ready:\n%s", log)
		}
	case <-time.After(30 * time.Second):
		s.Stop()
		return fmt.Errorf("postgres did not say it was ready within 30 s")
	}
	return nil
}

// URL is the server's postgres database.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
}

// Database creates an empty database and returns its URL, so that tests
// sharing a server do not see each other's rows.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	url, err := s.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// NewDatabase is Database for a program.
func (s *Server) NewDatabase() (string, error) {
	db, err := sql.Open("pgx", s.URL())
	if err != nil {
		return "", err
	}
	defer db.Close()
	name := "t" + strconv.FormatInt(s.n.Add(1), 10)
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		return "", err
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, name), nil
}

// Stop ends the server (a fast shutdown, by its PID) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	_ = s.cmd.Wait()
}

// Restart starts the stopped server again, on the same port and data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}
