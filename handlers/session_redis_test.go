package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/redistest"
)

// Two portal instances sharing one real Redis: sign in on one, act and
// sign out on the other; the old cookie then opens nothing on either. A
// Redis that goes away is a 503 with a message, not a sign-out. (What the
// records in Redis hold, and that they go with the session, is tested with
// the store, in internal/session.)
func TestRedisSessionsAcrossReplicas(t *testing.T) {
	rs := redistest.Start(t)
	a := portaltest.Start(t, portaltest.Options{SessionStore: rs.URL})
	b := portaltest.Start(t, portaltest.Options{ReplicaOf: a, SessionStore: rs.URL})
	checkReplicas(t, a, b)

	token, err := a.Sim.IssueToken(balenasim.DemoEmail, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	br, p := signInWithToken(t, a, token)
	if !signedInPage(p) {
		t.Fatalf("token sign-in: %s %d", p.url, p.status)
	}

	if ready := newBrowser(t, b).get("/readyz"); ready.status != http.StatusOK {
		t.Errorf("/readyz with Redis up: %d", ready.status)
	}
	rs.Stop()
	if ready := newBrowser(t, b).get("/readyz"); ready.status != http.StatusServiceUnavailable || !strings.Contains(ready.body, "session store") {
		t.Errorf("/readyz with Redis gone: %d %q", ready.status, ready.body)
	}
	p = withCookie(t, b, br.sessionCookie()).get("/keys")
	if p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "cannot reach its session store") {
		t.Errorf("with Redis gone: %d\n%s", p.status, p.doc.Find("main").Text())
	}
}
