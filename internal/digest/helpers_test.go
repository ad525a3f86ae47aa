package digest_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/internal/digest"
	"github.com/keyportal/keyportal/internal/digest/digesttest"
	"github.com/keyportal/keyportal/internal/testclock"
)

const keysURL = "https://keys.example.com/keys"

var within = []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour}

// world is the stand-in for balena, seeded with the demo dataset, read as
// the demo admin.
type world struct {
	sim     *balenasim.Sim
	clock   *testclock.Clock
	client  *apiclient.Client
	session *apiclient.Session
}

func newWorld(t *testing.T, at time.Time) *world {
	t.Helper()
	clk := testclock.New(at)
	sim, err := balenasim.New(balenasim.Options{Dataset: "demo", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := apiclient.New(apiclient.Options{BaseURL: srv.URL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sim.IssueToken(balenasim.DemoEmail, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &world{sim: sim, clock: clk, client: c, session: c.As(tok)}
}

// signIn reads as the demo admin from now on, with a token of the clock's time.
func (w *world) signIn(t *testing.T) {
	tok, err := w.sim.IssueToken(balenasim.DemoEmail, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.session = w.client.As(tok)
}

func (w *world) builder() *digest.Builder { return digest.NewBuilder(w.session, within, keysURL) }

// service is one portal replica's digest sender.
func (w *world) service(t *testing.T, ledger digest.Ledger, sendEmpty bool, senders ...digest.Sender) *digest.Service {
	t.Helper()
	s, err := digest.New(digest.Options{Builder: w.builder(), Ledger: ledger, Senders: senders, Schedule: "0 8 * * 1-5",
		Loc: time.UTC, SendEmpty: sendEmpty, Now: w.clock.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The digest's destinations: a local webhook receiver and a real SMTP server.
type hook = digesttest.Hook

var (
	newHook    = digesttest.NewHook
	newMailbox = digesttest.NewMailbox
)

func contains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

var _ = context.Background
