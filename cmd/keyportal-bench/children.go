package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers"
	"github.com/keyportal/keyportal/internal/config"
)

// The bench runs the stand-in and the portal each in a child process (this
// same binary, picked by roleEnv), so that each one's CPU time, allocations
// and memory are its own. A child serves its main handler and a small
// control API on two loopback ports, prints one "ready" line, and exits when
// its stdin closes, so it never outlives the bench.
const (
	roleEnv    = "KEYPORTAL_BENCH_ROLE"
	simURLEnv  = "KEYPORTAL_BENCH_SIM_URL"
	datasetEnv = "KEYPORTAL_BENCH_DATASET"
	policyEnv  = "KEYPORTAL_BENCH_POLICY" // a portal's KEYPORTAL_POLICY_MAX_LIFETIME; none when unset
	dataDirEnv = "KEYPORTAL_BENCH_DATA_DIR"
)

// procStats is what a child reports about itself.
type procStats struct {
	CPU        time.Duration // user + system, from getrusage
	Mallocs    uint64
	TotalAlloc uint64
	NumGC      uint32
	HeapInuse  uint64
	RSS, HWM   int64 // VmRSS and VmHWM, bytes
	Goroutines int
	Conns      int64 // connections accepted on the main port
}

func readStats(conns *atomic.Int64) procStats {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := procStats{
		CPU:        time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		Mallocs:    ms.Mallocs,
		TotalAlloc: ms.TotalAlloc,
		NumGC:      ms.NumGC,
		HeapInuse:  ms.HeapInuse,
		Goroutines: runtime.NumGoroutine(),
		Conns:      conns.Load(),
	}
	s.RSS, s.HWM = procStatus("VmRSS"), procStatus("VmHWM")
	return s
}

// procStatus reads one "kB" line of /proc/self/status, in bytes.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// countingListener counts accepted connections: a page that reuses its
// connections to balena adds none.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// serveChild serves main and ctl on free loopback ports until stdin closes.
func serveChild(main http.Handler, ctl *http.ServeMux, conns *atomic.Int64) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctl.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, readStats(conns))
	})
	ctl.HandleFunc("POST /gc", func(w http.ResponseWriter, r *http.Request) { runtime.GC() })
	var prof struct {
		sync.Mutex
		f *os.File
	}
	ctl.HandleFunc("POST /profile/start", func(w http.ResponseWriter, r *http.Request) {
		prof.Lock()
		defer prof.Unlock()
		f, err := os.Create(r.URL.Query().Get("path"))
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		prof.f = f
	})
	ctl.HandleFunc("POST /profile/stop", func(w http.ResponseWriter, r *http.Request) {
		prof.Lock()
		defer prof.Unlock()
		if prof.f != nil {
			pprof.StopCPUProfile()
			_ = prof.f.Close()
			prof.f = nil
		}
	})
	ctl.HandleFunc("POST /profile/heap", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Create(r.URL.Query().Get("path"))
		if err == nil {
			runtime.GC()
			err = pprof.Lookup("heap").WriteTo(f, 0)
			_ = f.Close()
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	srv := &http.Server{Handler: main, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = srv.Serve(countingListener{ln, conns}) }()
	go func() { _ = (&http.Server{Handler: ctl, ReadHeaderTimeout: 10 * time.Second}).Serve(cln) }()
	fmt.Printf("ready http://%s http://%s\n", ln.Addr(), cln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin) // until the bench closes stdin or dies
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// runSim is the stand-in's child: the dataset, counters and faults, the
// latter two driven through the control port.
func runSim() error {
	sim, err := balenasim.New(balenasim.Options{Dataset: os.Getenv(datasetEnv)})
	if err != nil {
		return err
	}
	var conns atomic.Int64
	ctl := http.NewServeMux()
	ctl.HandleFunc("GET /counters", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, sim.Counters()) })
	ctl.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		sim.ResetCounters()
		conns.Store(0)
	})
	ctl.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("latency"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sim.SetFaults(balenasim.Faults{Latency: d})
	})
	return serveChild(sim, ctl, &conns)
}

// runPortal is the portal's child, configured as in production except for
// its log, which is formatted as usual and then discarded.
func runPortal() error {
	dir := os.Getenv(dataDirEnv) // the bench's, which it fills with audit events
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "keyportal-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	cfg, err := portalConfig(os.Getenv(simURLEnv), dir)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: cfg.LogLevel}))
	srv, err := handlers.New(cfg, log)
	if err != nil {
		return err
	}
	ctl := http.NewServeMux()
	// One watcher refresh, on demand: the bench drives them instead of a ticker.
	ctl.HandleFunc("POST /watch", func(w http.ResponseWriter, r *http.Request) {
		if srv.Watcher() == nil {
			http.Error(w, "no watcher", http.StatusNotFound)
		} else if err := srv.Watcher().Refresh(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	})
	var conns atomic.Int64
	return serveChild(srv, ctl, &conns)
}

// portalConfig is the portal's production configuration against the
// stand-in at simURL, with a fresh session key and its data in dir.
func portalConfig(simURL, dir string) (config.Config, error) {
	key := make([]byte, 48)
	_, _ = rand.Read(key)
	env := map[string]string{
		"KEYPORTAL_BALENA_API_URL": simURL,
		"KEYPORTAL_DATA_DIR":       dir,
		"KEYPORTAL_SESSION_KEYS":   base64.StdEncoding.EncodeToString(key),
		// The bench signs one account in a hundred times from one address,
		// on purpose; the sign-in throttle would rightly refuse that.
		"KEYPORTAL_SIGNIN_LIMIT_IP":      "100000/1m",
		"KEYPORTAL_SIGNIN_LIMIT_ACCOUNT": "100000/1m",
	}
	if p := os.Getenv(policyEnv); p != "" {
		env["KEYPORTAL_POLICY_MAX_LIFETIME"] = p
	}
	if tok := os.Getenv(watchTokenEnv); tok != "" {
		env["KEYPORTAL_WATCH_TOKEN"], env["KEYPORTAL_METRICS"] = tok, "true"
	}
	return config.Load(func(k string) string { return env[k] }, false)
}

// child is a running child process as the bench sees it.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	URL   string // main port
	ctl   string // control port
}

func startChild(role string, env ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), roleEnv+"="+role), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{name: role, cmd: cmd, stdin: stdin}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil {
			f := strings.Fields(line)
			if len(f) == 3 && f[0] == "ready" {
				c.URL, c.ctl = f[1], f[2]
			} else {
				err = fmt.Errorf("%s: unexpected %q", role, line)
			}
		}
		ready <- err
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case err = <-ready:
	case <-time.After(60 * time.Second):
		err = errors.New("did not start within 60s")
	}
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("%s child: %w", role, err)
	}
	return c, nil
}

// stop closes the child's stdin, which ends it, and kills it if it lingers.
func (c *child) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

var ctlClient = &http.Client{Timeout: 30 * time.Second}

// call sends a control request and decodes its JSON answer into out.
func (c *child) call(method, path string, out any) error {
	req, _ := http.NewRequest(method, c.ctl+path, nil)
	res, err := ctlClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("%s %s: %s %s", c.name, path, res.Status, b)
	}
	if out == nil {
		_, err = io.Copy(io.Discard, res.Body)
		return err
	}
	return json.NewDecoder(res.Body).Decode(out)
}

func (c *child) stats() procStats {
	var s procStats
	must(c.call(http.MethodGet, "/stats", &s))
	return s
}

func (c *child) counters() balenasim.Counters {
	var cs balenasim.Counters
	must(c.call(http.MethodGet, "/counters", &cs))
	return cs
}

func (c *child) reset() { must(c.call(http.MethodPost, "/reset", nil)) }

func (c *child) latency(d time.Duration) {
	must(c.call(http.MethodPost, "/faults?latency="+d.String(), nil))
}
