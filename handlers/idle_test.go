package handlers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

// With the shortest idle timeout allowed (a minute), someone who uses the
// portal every 30 seconds stays signed in, and a minute of silence still
// signs them out: the session's last use is recorded precisely enough for
// the timeout.
func TestShortIdleTimeoutKeepsActiveUsers(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	env := portaltest.Start(t, portaltest.Options{Clock: clock, Config: func(c *config.Config) { c.IdleTimeout = config.MinIdleTimeout }})
	b := newBrowser(t, env)
	if p := b.signIn(balenasim.DemoEmail, balenasim.DemoPassword); !signedInPage(p) {
		t.Fatalf("sign-in: %s %d", p.url, p.status)
	}
	for step := 1; step <= 10; step++ {
		clock.Advance(30 * time.Second)
		if p := b.get("/keys"); !signedInPage(p) {
			t.Fatalf("active every 30 s, signed out after %d s: %s", 30*step, p.url)
		}
	}
	clock.Advance(config.MinIdleTimeout + time.Second)
	if p := b.get("/keys"); !strings.HasSuffix(p.url, "/signin?reason=idle") {
		t.Errorf("after a minute of silence: %s", p.url)
	}
}
