package handlers_test

import (
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

// closedURL is the URL of a loopback port nobody listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String()
}

const unreachableWords = "The portal cannot reach balena: the connection was refused. Try again in a moment; if it keeps happening, tell your administrator."

// When balena cannot be reached, the portal says so, at sign-in and on a
// signed-in page (with and without htmx), rather than that balena
// "answered with an error".
func TestUnreachableBalenaIsNamed(t *testing.T) {
	down := portaltest.Start(t, portaltest.Options{Config: func(c *config.Config) { c.BalenaAPIURL = closedURL(t) }})
	p := newBrowser(t, down).signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	if p.status != http.StatusBadGateway || flashText(p) != unreachableWords {
		t.Errorf("sign-in: %d %q", p.status, flashText(p))
	}

	up, b := signedIn(t, portaltest.Options{})
	cut := portaltest.Start(t, portaltest.Options{ReplicaOf: up, Config: func(c *config.Config) { c.BalenaAPIURL = closedURL(t) }})
	onCut := withCookie(t, cut, b.sessionCookie())
	page := onCut.get("/keys")
	if page.status != http.StatusBadGateway || !strings.Contains(page.doc.Find("main").Text(), unreachableWords) {
		t.Errorf("keys page: %d %q", page.status, strings.TrimSpace(page.doc.Find("main").Text()))
	}
	frag := onCut.get("/keys?kind=user", "HX-Request", "true")
	if frag.status != http.StatusBadGateway || !strings.HasSuffix(flashText(frag), unreachableWords) {
		t.Errorf("htmx banner: %d %q", frag.status, flashText(frag))
	}
}

// A pasted token with bytes no HTTP header can carry is the person's
// input: a 400 that says what is wrong, and balena is not asked. A token
// whose exp claim is no real date is not "expired in the year
// -292275055": its claims are unreadable, and balena judges it.
func TestPastedTokenThatCannotBeSentOrDated(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	env.Sim.ResetCounters()
	_, p := signInWithToken(t, env, "eyJhbGciOi\x01JIUzI1NiJ9")
	if p.status != http.StatusBadRequest || !strings.HasPrefix(flashText(p), "That token holds characters no balena token or API key has") {
		t.Errorf("token with a control character: %d %q", p.status, flashText(p))
	}
	if n := env.Sim.Counters().Total(); n != 0 {
		t.Errorf("balena got %d requests", n)
	}

	enc := base64.RawURLEncoding.EncodeToString
	absurd := enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(`{"id":1,"iat":1700000000,"exp":1e300}`)) + ".c2ln"
	_, p = signInWithToken(t, env, absurd)
	if p.status != http.StatusUnauthorized || flashText(p) != "balena does not accept that token: it is unknown, expired or revoked." {
		t.Errorf("token with an absurd exp: %d %q", p.status, flashText(p))
	}
}
