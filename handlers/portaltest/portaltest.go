// Package portaltest runs a real portal against an in-process balena
// stand-in on loopback, for integration and end-to-end tests.
package portaltest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers"
	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/internal/testclock"
)

// Options tune an Env; the zero value is the demo dataset on balenaCloud's
// profile.
type Options struct {
	Profile balenasim.Profile
	Dataset string
	// Sim, if set, may change the stand-in's options (login throttle, token
	// lifetime) before it starts.
	Sim func(*balenasim.Options)
	// Clock, if set, is the time of both the stand-in and the portal.
	Clock *Clock
	// SessionKeys replaces the random session key (newest first).
	SessionKeys []string
	// SessionStore is KEYPORTAL_SESSION_STORE, e.g. a redis:// URL.
	SessionStore string
	// BasePath is KEYPORTAL_BASE_PATH, e.g. /keyportal. URL stays the
	// server's root, so that tests can also ask outside the base path.
	BasePath string
	// ReplicaOf starts a second portal beside that Env's: the same
	// stand-in, data directory and (unless SessionKeys says otherwise)
	// session keys, as another replica behind a load balancer would have.
	ReplicaOf *Env
	// Config, if set, may change the portal's settings before it starts.
	Config func(*config.Config)
	// Watch turns the key watcher on, reading as the demo admin with a
	// session token the stand-in mints, and metrics on. Tests drive its
	// refreshes with Portal.Watcher().Refresh: no ticker runs.
	Watch bool
}

// Clock is a settable time shared by the stand-in and the portal, so tests
// move through days without waiting.
type Clock = testclock.Clock

// NewClock starts a Clock at now.
func NewClock(now time.Time) *Clock { return testclock.New(now) }

// Env is a running stand-in and a portal that talks to it.
type Env struct {
	Sim     *balenasim.Sim
	SimURL  string
	URL     string // the server's root URL; the portal is at URL + Config.BasePath
	Logs    *Buffer
	Config  config.Config
	Portal  *handlers.Server
	simSrv  *httptest.Server
	httpSrv *httptest.Server
	dataDir string
	keys    []string
	replica bool // the stand-in and data directory belong to another Env
}

// New starts an Env. Close stops it.
func New(opts Options) (*Env, error) {
	env := &Env{Logs: &Buffer{}}
	if r := opts.ReplicaOf; r != nil {
		env.Sim, env.SimURL, env.dataDir, env.keys, env.replica = r.Sim, r.SimURL, r.dataDir, r.keys, true
	} else if err := env.startSim(opts); err != nil {
		env.Close()
		return nil, err
	}
	if len(opts.SessionKeys) > 0 {
		env.keys = opts.SessionKeys
	}
	getenv := func(k string) string {
		switch k {
		case "KEYPORTAL_BALENA_API_URL":
			return env.SimURL
		case "KEYPORTAL_DATA_DIR":
			return env.dataDir
		case "KEYPORTAL_SESSION_KEYS":
			return strings.Join(env.keys, ",")
		case "KEYPORTAL_SESSION_STORE":
			return opts.SessionStore
		case "KEYPORTAL_UPSTREAM_TIMEOUT":
			return balenasim.CallTimeout(opts.Dataset).String()
		case "KEYPORTAL_BASE_PATH":
			return opts.BasePath
		}
		return ""
	}
	cfg, err := config.Load(getenv, false)
	if err != nil {
		env.Close()
		return nil, err
	}
	if opts.Clock != nil {
		cfg.Now = opts.Clock.Now
	}
	if opts.Watch {
		if cfg.WatchToken, err = env.Sim.IssueToken(balenasim.DemoEmail, cfg.Clock()()); err != nil {
			env.Close()
			return nil, err
		}
		cfg.Metrics = true
	}
	if opts.Config != nil {
		opts.Config(&cfg)
	}
	env.Config = cfg
	log := slog.New(slog.NewTextHandler(env.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env.Portal, err = handlers.New(cfg, log)
	if err != nil {
		env.Close()
		return nil, err
	}
	env.httpSrv = httptest.NewServer(env.Portal)
	env.URL = env.httpSrv.URL
	return env, nil
}

// startSim starts the stand-in, a data directory and a session key.
func (env *Env) startSim(opts Options) error {
	so := balenasim.Options{Profile: opts.Profile, Dataset: opts.Dataset}
	if so.Dataset == "" {
		so.Dataset = "demo"
	}
	if opts.Clock != nil {
		so.Now = opts.Clock.Now
	}
	if opts.Sim != nil {
		opts.Sim(&so)
	}
	sim, err := balenasim.New(so)
	if err != nil {
		return err
	}
	env.Sim = sim
	env.simSrv = httptest.NewServer(sim)
	env.SimURL = env.simSrv.URL
	if env.dataDir, err = os.MkdirTemp("", "keyportal-test-"); err != nil {
		return err
	}
	env.keys = []string{NewSessionKey()}
	return nil
}

// NewSessionKey is a random session secret as an operator would make one.
func NewSessionKey() string {
	key := make([]byte, 48)
	_, _ = rand.Read(key)
	return base64.StdEncoding.EncodeToString(key)
}

// DataDir is where the portal keeps its session files.
func (e *Env) DataDir() string { return e.dataDir }

// Close stops the portal and the stand-in and removes the session files.
func (e *Env) Close() {
	if e.httpSrv != nil {
		e.httpSrv.Close()
	}
	if e.Portal != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = e.Portal.Close(ctx)
		cancel()
	}
	if e.simSrv != nil {
		e.simSrv.Close()
	}
	if e.dataDir != "" && !e.replica {
		_ = os.RemoveAll(e.dataDir)
	}
}

// Buffer is a log sink that tests read while the portal writes.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Contains reports whether any log line so far contains s.
func (b *Buffer) Contains(s string) bool { return strings.Contains(b.String(), s) }

// Start is New for one test: it fails the test if the Env cannot start and
// closes it when the test ends.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	env, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	return env
}
