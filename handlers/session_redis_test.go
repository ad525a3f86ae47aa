package handlers_test

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
)

// redisServer is a real redis-server on a free loopback port, for one test.
type redisServer struct {
	URL  string
	addr string
	cmd  *exec.Cmd
}

// startRedis runs redis-server (installed by e2e/setup.sh, which make test
// runs) and stops it, by its PID, when the test ends. Without redis-server
// the test skips, unless KEYPORTAL_E2E asks for the full suite.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	exe, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("KEYPORTAL_E2E") == "" {
			t.Skip("redis-server is not installed: the Redis session tests skip (make test installs it through e2e/setup.sh)")
		}
		t.Fatal("redis-server is not installed and KEYPORTAL_E2E is set: run e2e/setup.sh")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(exe, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--daemonize", "no", "--loglevel", "notice")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &redisServer{URL: "redis://127.0.0.1:" + port + "/0", addr: "127.0.0.1:" + port, cmd: cmd}
	t.Cleanup(r.stop)
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
			t.Fatal("redis-server exited before it was ready")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("redis-server did not say it was ready within 15 s")
	}
	return r
}

// stop ends the server by its PID and waits for it.
func (r *redisServer) stop() {
	if r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_ = r.cmd.Wait()
}

// values returns every session record stored in Redis.
func (r *redisServer) values(t *testing.T) []string {
	t.Helper()
	conn, err := redis.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	keys, err := redis.Strings(conn.Do("KEYS", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		if !strings.HasPrefix(k, "keyportal:session:") {
			t.Errorf("unexpected Redis key %q", k)
		}
		v, err := redis.String(conn.Do("GET", k))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// Two portal instances sharing one real Redis: sign in on one, act and
// sign out on the other; the old cookie then opens nothing on either. The
// records in Redis are sealed (no readable token), and a Redis that goes
// away is a 503 with a message, not a sign-out.
func TestRedisSessionsAcrossReplicas(t *testing.T) {
	rs := startRedis(t)
	a := portaltest.Start(t, portaltest.Options{SessionStore: rs.URL})
	b := portaltest.Start(t, portaltest.Options{ReplicaOf: a, SessionStore: rs.URL})
	checkReplicas(t, a, b)
	if n := len(rs.values(t)); n != 0 {
		t.Errorf("%d session records left in Redis after sign-out", n)
	}

	token, err := a.Sim.IssueToken(balenasim.DemoEmail, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	br, p := signInWithToken(t, a, token)
	if !signedInPage(p) {
		t.Fatalf("token sign-in: %s %d", p.url, p.status)
	}
	values := rs.values(t)
	if len(values) != 1 {
		t.Fatalf("%d session records in Redis, want 1", len(values))
	}
	claims := strings.Split(token, ".")[1]
	if strings.Contains(values[0], token) || strings.Contains(values[0], claims) || strings.Contains(values[0], balenasim.DemoEmail) {
		t.Error("the Redis record is readable: it holds the token or the email")
	}
	if files, _ := filepath.Glob(filepath.Join(a.DataDir(), "sessions", "session_*")); len(files) != 0 {
		t.Errorf("session files written while Redis is the store: %v", files)
	}

	if ready := newBrowser(t, b).get("/readyz"); ready.status != http.StatusOK {
		t.Errorf("/readyz with Redis up: %d", ready.status)
	}
	rs.stop()
	if ready := newBrowser(t, b).get("/readyz"); ready.status != http.StatusServiceUnavailable || !strings.Contains(ready.body, "session store") {
		t.Errorf("/readyz with Redis gone: %d %q", ready.status, ready.body)
	}
	p = withCookie(t, b, br.sessionCookie()).get("/keys")
	if p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "cannot reach its session store") {
		t.Errorf("with Redis gone: %d\n%s", p.status, p.doc.Find("main").Text())
	}
}

// A portal told to use a Redis that is not there refuses to start, and
// says where it looked without printing the password.
func TestRedisUnreachableAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = portaltest.New(portaltest.Options{SessionStore: "redis://:hunter2-secret@" + addr + "/0"})
	if err == nil || !strings.Contains(err.Error(), "cannot reach Redis at redis://:xxxxx@"+addr) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error = %v", err)
	}
}
