package handlers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/redistest"
)

// Sign out everywhere, with files shared by two replicas: every session of
// the account ends, on both, and nobody else's.
func TestSignOutEverywhereWithFiles(t *testing.T) {
	a := portaltest.Start(t, portaltest.Options{})
	checkSignOutEverywhere(t, a, portaltest.Start(t, portaltest.Options{ReplicaOf: a}))
}

// Likewise with Redis.
func TestSignOutEverywhereWithRedis(t *testing.T) {
	rs := redistest.Start(t)
	a := portaltest.Start(t, portaltest.Options{SessionStore: rs.URL})
	checkSignOutEverywhere(t, a, portaltest.Start(t, portaltest.Options{ReplicaOf: a, SessionStore: rs.URL}))
}

// checkSignOutEverywhere signs admin in three times (password on a and on
// b, a pasted token on b) and bob once, signs admin out everywhere from a
// (a plain form post: no JavaScript needed), and checks who is still in.
func checkSignOutEverywhere(t *testing.T, a, b *portaltest.Env) {
	t.Helper()
	here, there := newBrowser(t, a), newBrowser(t, b)
	for name, br := range map[string]*browser{"first replica": here, "second replica": there} {
		if p := br.signIn(balenasim.DemoEmail, balenasim.DemoPassword); !signedInPage(p) {
			t.Fatalf("admin's sign-in on the %s: %s %d", name, p.url, p.status)
		}
	}
	token, err := a.Sim.IssueToken(balenasim.DemoEmail, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pasted, p := signInWithToken(t, b, token)
	if !signedInPage(p) {
		t.Fatalf("admin's token sign-in: %s %d", p.url, p.status)
	}
	bob := newBrowser(t, a)
	if p := bob.signIn(balenasim.DemoOtherEmail, balenasim.DemoPassword); !signedInPage(p) {
		t.Fatalf("bob's sign-in: %s %d", p.url, p.status)
	}
	cookie := here.sessionCookie()

	out := here.submit(here.get("/keys"), "form[action='/signout/everywhere']", nil)
	if !strings.HasSuffix(out.url, "/signin?reason=signed-out-everywhere") ||
		flashText(out) != "You have signed out everywhere: every session of your account in this portal has ended, in every browser." {
		t.Errorf("after signing out everywhere: %s %q", out.url, flashText(out))
	}
	for name, br := range map[string]*browser{"the same browser": here, "the other replica": there, "the pasted token": pasted} {
		p := br.get("/keys")
		if signedInPage(p) {
			t.Errorf("%s is still signed in", name)
		}
		if br != here && (!strings.HasSuffix(p.url, "/signin?reason=ended-everywhere") ||
			flashText(p) != "Your account was signed out everywhere, from another browser. Sign in again.") {
			t.Errorf("%s: %s %q", name, p.url, flashText(p))
		}
	}
	for name, env := range map[string]*portaltest.Env{"first": a, "second": b} {
		if p := withCookie(t, env, cookie).get("/keys"); signedInPage(p) {
			t.Errorf("the old cookie still opens the keys page on the %s replica", name)
		}
	}
	if p := bob.get("/keys"); !signedInPage(p) {
		t.Errorf("another account was signed out: %s", p.url)
	}
	// Signing in again works, on either replica, and stays.
	again := newBrowser(t, b)
	if p := again.signIn(balenasim.DemoEmail, balenasim.DemoPassword); !signedInPage(p) {
		t.Errorf("signing in again: %s %d", p.url, p.status)
	}
	if p := withCookie(t, a, again.sessionCookie()).get("/keys"); !signedInPage(p) {
		t.Errorf("the new session on the other replica: %s %d", p.url, p.status)
	}
}
