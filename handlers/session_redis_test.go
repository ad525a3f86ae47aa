package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

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
	checkStoreAway(t, "the keys page", withCookie(t, b, br.sessionCookie()).get("/keys?kind=user"), "/keys?kind=user")
}

// Two replicas that start while Redis is away (failed over, upgraded):
// each starts and is alive but not ready, naming the session store; the
// sign-in page and its form say in plain words to try again, with a link,
// and say nothing of Redis's URL or password. Once Redis answers on its
// address, without a restart, /readyz turns ready and a sign-in on one
// replica is a session on the other.
func TestReplicasStartWhileRedisIsAwayAndUseItOnceItAnswers(t *testing.T) {
	rs := redistest.Start(t)
	rs.Stop()
	store := strings.Replace(rs.URL, "redis://", "redis://:hunter2secret@", 1)
	// The password is Redis's own once it is back: require it.
	a := portaltest.Start(t, portaltest.Options{SessionStore: store})
	b := portaltest.Start(t, portaltest.Options{ReplicaOf: a, SessionStore: store})

	for name, env := range map[string]*portaltest.Env{"first": a, "second": b} {
		br := newBrowser(t, env)
		if p := br.get("/healthz"); p.status != http.StatusOK {
			t.Errorf("%s replica /healthz with Redis away: %d", name, p.status)
		}
		if p := br.get("/readyz"); p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "session store") {
			t.Errorf("%s replica /readyz with Redis away: %d %q", name, p.status, p.body)
		}
		form := br.get("/signin")
		checkStoreAway(t, name+" replica's sign-in page", form, "/signin")
		csrf := ""
		for _, c := range br.http.Jar.Cookies(mustURL(env.URL)) {
			if c.Name == "keyportal_csrf" {
				csrf = c.Value
			}
		}
		sent := br.post("/signin", url.Values{"_csrf": {csrf}, "email": {balenasim.DemoEmail}, "password": {balenasim.DemoPassword}})
		checkStoreAway(t, name+" replica's sign-in form sent", sent, "/signin")
		// A probe polled every few seconds is no error to page anyone for.
		for _, line := range strings.Split(env.Logs.String(), "\n") {
			if strings.Contains(line, "path=/readyz") && !strings.Contains(line, "level=DEBUG") {
				t.Errorf("%s replica logs a not-ready probe above debug: %s", name, line)
			}
		}
		if logs := env.Logs.String(); strings.Count(logs, "session store unavailable") != 1 || strings.Contains(logs, "hunter2secret") {
			t.Errorf("%s replica's log says the store is unavailable %d times (want once, and no password):\n%s",
				name, strings.Count(logs, "session store unavailable"), logs)
		}
	}

	rs.Restart(t)
	setRedisPassword(t, rs, "hunter2secret")
	for name, env := range map[string]*portaltest.Env{"first": a, "second": b} {
		waitReady(t, env)
		if !env.Logs.Contains("session store reachable") {
			t.Errorf("%s replica did not log that the store is back", name)
		}
	}
	checkReplicas(t, a, b)
}

// checkStoreAway checks p is the page of a session store that is away.
func checkStoreAway(t *testing.T, what string, p page, again string) {
	t.Helper()
	main := p.doc.Find("main").Text()
	if p.status != http.StatusServiceUnavailable || !strings.Contains(main, "Keyportal is unavailable for a moment") ||
		p.header.Get("Retry-After") == "" {
		t.Errorf("%s with Redis away: %d %q", what, p.status, main)
	}
	if link := p.doc.Find("main a:contains('Try again')"); link.AttrOr("href", "") != again {
		t.Errorf("%s: its Try again link goes to %q, want %q", what, link.AttrOr("href", ""), again)
	}
	for _, leak := range []string{"hunter2secret", "redis://", "127.0.0.1", "goroutine"} {
		if strings.Contains(p.body, leak) {
			t.Errorf("%s shows %q", what, leak)
		}
	}
}

// waitReady polls /readyz until it answers 200, failing after 30 s.
func waitReady(t *testing.T, env *portaltest.Env) {
	t.Helper()
	br := newBrowser(t, env)
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := br.get("/readyz")
		if p.status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %q 30 s after Redis was back", p.status, p.body)
		}
	}
}

// setRedisPassword makes rs require password, as a production Redis does.
func setRedisPassword(t *testing.T, rs *redistest.Server, password string) {
	t.Helper()
	conn, err := redis.Dial("tcp", rs.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Do("CONFIG", "SET", "requirepass", password); err != nil {
		t.Fatal(err)
	}
}
