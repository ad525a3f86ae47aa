package apiclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
)

// A balena that cannot be reached is told apart from one that answered
// badly: nothing was sent, and the error says why.
func TestUnreachableBalenaIsNotAnAnswer(t *testing.T) {
	// Connection refused: a port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	refused, _ := New(Options{BaseURL: "http://" + addr, Timeout: 5 * time.Second})
	refused.retryBase = time.Millisecond

	// A host name that does not resolve: a resolver that cannot reach any
	// DNS server, as on a machine whose network is down.
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS server reachable")
	}}
	tr := newTransport()
	tr.Proxy = nil
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, Resolver: noDNS}).DialContext
	unresolved, _ := New(Options{BaseURL: "http://balena.invalid", Timeout: 5 * time.Second, HTTPClient: &http.Client{Transport: tr}})
	unresolved.retryBase = time.Millisecond

	for _, c := range []struct {
		name   string
		client *Client
		why    string
	}{
		{"refused", refused, "the connection was refused"},
		{"unresolved", unresolved, "its host name could not be resolved"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for op, call := range map[string]func() error{
				"ping":   func() error { return c.client.Ping(ctx(t)) },
				"login":  func() error { _, err := c.client.Login(ctx(t), "a@example.com", "x"); return err },
				"delete": func() error { return c.client.As("tok").DeleteKey(ctx(t), 1) },
			} {
				err := call()
				var e *Error
				if !errors.As(err, &e) || e.Code != CodeUnreachable || e.Message != c.why {
					t.Errorf("%s: %v, want %s: %s", op, err, CodeUnreachable, c.why)
				}
			}
		})
	}
}

// A token with bytes no header can carry is refused before anything is
// sent, as the caller's mistake, never as balena's.
func TestTokenThatCannotBeSentIsRefusedUnsent(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	e.sim.ResetCounters()
	for _, tok := range []string{"abc\x00def", "line\nbreak", "del\x7f"} {
		_, err := e.c.As(tok).WhoAmI(ctx(t))
		if ErrorCode(err) != CodeBadToken || !strings.Contains(err.Error(), "cannot be sent") {
			t.Errorf("%q: %v, want %s", tok, err, CodeBadToken)
		}
	}
	if n := e.sim.Counters().Total(); n != 0 {
		t.Errorf("balena got %d requests", n)
	}
	// Tabs and bytes beyond ASCII can be sent; balena judges them.
	if _, err := e.c.As("t\tab\u00e9").WhoAmI(ctx(t)); ErrorCode(err) != CodeUnauthorized {
		t.Errorf("tab and é: %v, want unauthorized", err)
	}
}
