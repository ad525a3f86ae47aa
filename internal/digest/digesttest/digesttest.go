// Package digesttest gives tests real destinations for the digest: a
// webhook receiver and an SMTP server on loopback, each keeping what it
// was sent, so that the digest's tests and the portal's read the same.
package digesttest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/keyportal/keyportal/internal/digest"
)

// Hook is a local webhook receiver that keeps what it was sent.
type Hook struct {
	URL  string // with a token in its path, as Slack's are
	mu   sync.Mutex
	got  []digest.Payload
	fail bool
}

// NewHook starts a receiver, stopped when t ends.
func NewHook(t testing.TB) *Hook {
	h := &Hook{}
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

// SetFail makes the receiver answer 502 Bad Gateway (true), as a webhook
// whose URL was rotated, or take posts again (false).
func (h *Hook) SetFail(fail bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail = fail
}

// Payloads are the posts taken so far.
func (h *Hook) Payloads() []digest.Payload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]digest.Payload(nil), h.got...)
}

// Mailbox is a real SMTP server on loopback (emersion/go-smtp) that takes
// PLAIN auth for one user and keeps the messages it receives.
type Mailbox struct {
	Addr string
	mu   sync.Mutex
	msgs []Message
}

// Message is one mail as the server received it.
type Message struct {
	From string
	To   []string
	Data string
}

// NewMailbox starts a server for user and pass, stopped when t ends, and
// the TLS configuration a client needs to trust its STARTTLS.
func NewMailbox(t testing.TB, user, pass string) (*Mailbox, *tls.Config) {
	t.Helper()
	// httptest's certificate names 127.0.0.1: the server offers STARTTLS
	// with it and the client trusts it alone.
	certs := httptest.NewUnstartedServer(nil)
	certs.StartTLS()
	certs.Close()
	roots := x509.NewCertPool()
	roots.AddCert(certs.Certificate())
	mb := startMailbox(t, user, pass, func(s *smtp.Server) { s.TLSConfig = &tls.Config{Certificates: certs.TLS.Certificates} })
	return mb, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
}

// NewLoopbackRelay starts a server without TLS or auth, as a relay that
// takes mail from its own host often is, for clients that trust only the
// system's roots.
func NewLoopbackRelay(t testing.TB) *Mailbox {
	t.Helper()
	return startMailbox(t, "", "", func(*smtp.Server) {})
}

func startMailbox(t testing.TB, user, pass string, with func(*smtp.Server)) *Mailbox {
	mb := &Mailbox{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{mb: mb, user: user, pass: pass, authed: user == ""}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	with(s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	mb.Addr = ln.Addr().String()
	return mb
}

// Messages are the mails received so far.
func (mb *Mailbox) Messages() []Message {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]Message(nil), mb.msgs...)
}

type smtpSession struct {
	mb         *Mailbox
	user, pass string
	authed     bool
	cur        Message
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
	s.cur = Message{From: from}
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
