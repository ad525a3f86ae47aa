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
)

// Options tune an Env; the zero value is the demo dataset on balenaCloud's
// profile.
type Options struct {
	Profile balenasim.Profile
	Dataset string
	// Config, if set, may change the portal's settings before it starts.
	Config func(*handlers.Config)
}

// Env is a running stand-in and a portal that talks to it.
type Env struct {
	Sim     *balenasim.Sim
	SimURL  string
	URL     string // the portal's base URL
	Logs    *Buffer
	Config  handlers.Config
	portal  *handlers.Server
	simSrv  *httptest.Server
	httpSrv *httptest.Server
	dataDir string
}

// New starts an Env. Close stops it.
func New(opts Options) (*Env, error) {
	if opts.Dataset == "" {
		opts.Dataset = "demo"
	}
	sim, err := balenasim.New(balenasim.Options{Profile: opts.Profile, Dataset: opts.Dataset})
	if err != nil {
		return nil, err
	}
	env := &Env{Sim: sim, Logs: &Buffer{}}
	env.simSrv = httptest.NewServer(sim)
	env.SimURL = env.simSrv.URL

	env.dataDir, err = os.MkdirTemp("", "keyportal-test-")
	if err != nil {
		env.Close()
		return nil, err
	}
	key := make([]byte, 48)
	_, _ = rand.Read(key)
	getenv := func(k string) string {
		switch k {
		case "KEYPORTAL_BALENA_API_URL":
			return env.SimURL
		case "KEYPORTAL_DATA_DIR":
			return env.dataDir
		case "KEYPORTAL_SESSION_KEYS":
			return base64.StdEncoding.EncodeToString(key)
		case "KEYPORTAL_UPSTREAM_TIMEOUT":
			return "5s"
		}
		return ""
	}
	cfg, err := handlers.LoadConfig(getenv, false)
	if err != nil {
		env.Close()
		return nil, err
	}
	if opts.Config != nil {
		opts.Config(&cfg)
	}
	env.Config = cfg
	log := slog.New(slog.NewTextHandler(env.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env.portal, err = handlers.New(cfg, log)
	if err != nil {
		env.Close()
		return nil, err
	}
	env.httpSrv = httptest.NewServer(env.portal)
	env.URL = env.httpSrv.URL
	return env, nil
}

// Close stops the portal and the stand-in and removes the session files.
func (e *Env) Close() {
	if e.httpSrv != nil {
		e.httpSrv.Close()
	}
	if e.portal != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = e.portal.Close(ctx)
		cancel()
	}
	if e.simSrv != nil {
		e.simSrv.Close()
	}
	if e.dataDir != "" {
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
