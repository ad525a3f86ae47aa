package digest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/internal/digest"
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

// hook is a local webhook receiver that keeps what it was sent.
type hook struct {
	URL  string
	mu   sync.Mutex
	got  []digest.Payload
	fail bool
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.fail {
			http.Error(w, "no", http.StatusBadGateway)
			return
		}
		var p digest.Payload
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&p) != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		h.got = append(h.got, p)
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL + "/hooks/T0/B0/token"
	return h
}

func (h *hook) Payloads() []digest.Payload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]digest.Payload(nil), h.got...)
}

// mailbox is a real SMTP server on loopback (emersion/go-smtp) that takes
// PLAIN auth for one user and keeps the messages it receives.
type mailbox struct {
	Addr string
	mu   sync.Mutex
	msgs []message
}

type message struct {
	From string
	To   []string
	Data string
}

func newMailbox(t *testing.T, user, pass string) (*mailbox, *tls.Config) {
	t.Helper()
	mb := &mailbox{}
	// httptest's certificate names 127.0.0.1: the server offers STARTTLS
	// with it and the client trusts it alone.
	certs := httptest.NewUnstartedServer(nil)
	certs.StartTLS()
	certs.Close()
	roots := x509.NewCertPool()
	roots.AddCert(certs.Certificate())
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{mb: mb, user: user, pass: pass}, nil
	}))
	s.Domain, s.TLSConfig = "localhost", &tls.Config{Certificates: certs.TLS.Certificates}
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	mb.Addr = ln.Addr().String()
	return mb, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
}

func (mb *mailbox) Messages() []message {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]message(nil), mb.msgs...)
}

type smtpSession struct {
	mb         *mailbox
	user, pass string
	authed     bool
	cur        message
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.user || pass != s.pass {
			return errors.New("bad credentials")
		}
		s.authed = true
		return nil
	}), nil
}
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.cur = message{From: from}
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = string(b)
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, s.cur)
	s.mb.mu.Unlock()
	return nil
}
func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

var _ smtp.AuthSession = (*smtpSession)(nil)

func contains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

var _ = context.Background
