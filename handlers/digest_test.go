package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/internal/digest"
	"github.com/keyportal/keyportal/internal/digest/digesttest"
	"github.com/keyportal/keyportal/internal/redistest"
)

// Two portals sharing Redis as their session store, as replicas behind a
// load balancer, each with its digest scheduled for the same time: the
// team gets the digest once.
func TestTwoPortalReplicasOnRedisSendTheScheduledDigestOnce(t *testing.T) {
	redis := redistest.Start(t)
	var mu sync.Mutex
	posts := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		posts++
		mu.Unlock()
	}))
	defer hook.Close()
	monday := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	clock := portaltest.NewClock(monday)
	opts := portaltest.Options{SessionStore: redis.URL, Watch: true, Clock: clock, Config: func(c *config.Config) {
		c.PublicURL, c.DigestWebhookURL = "https://keys.example.com", hook.URL+"/hook"
	}}
	a := portaltest.Start(t, opts)
	opts.ReplicaOf = a
	b := portaltest.Start(t, opts)

	outs := make([]digest.Outcome, 2)
	var wg sync.WaitGroup
	for i, p := range []*portaltest.Env{a, b} {
		wg.Go(func() {
			var err error
			if outs[i], err = p.Portal.Digest().SendSlot(context.Background(), monday); err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if posts != 1 || (outs[0] == digest.Sent) == (outs[1] == digest.Sent) {
		t.Errorf("the webhook got %d digests; the replicas say %q", posts, outs)
	}
	// Only the replica that sent it counts it, so that the sum over
	// replicas is what the team got, and the newest last success is when.
	sent, delivered := 0.0, 0
	for _, p := range []*portaltest.Env{a, b} {
		m := scrape(t, p)
		sent += m[`keyportal_digest_sent_total{destination="webhook",result="ok"}`]
		if at, ok := m["keyportal_digest_last_success_timestamp_seconds"]; ok {
			delivered++
			if at != float64(monday.Unix()) {
				t.Errorf("last success at %v, want Monday 08:00 (%d)", at, monday.Unix())
			}
		}
	}
	if sent != 1 || delivered != 1 {
		t.Errorf("over both replicas, %v digests counted as sent and %d replicas with a last success; want 1 and 1", sent, delivered)
	}
}

// A team that relies on the digest can alert when it stops arriving (a
// rotated webhook URL, a changed SMTP password): each delivery shows on
// /metrics, by destination and result, with when the last digest reached
// every destination and when the next one is due, and never where it went.
func TestDigestDeliveriesShowOnMetrics(t *testing.T) {
	hook := digesttest.NewHook(t)
	relay := digesttest.NewLoopbackRelay(t)
	monday := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	tuesday := monday.AddDate(0, 0, 1)
	clock := portaltest.NewClock(monday)
	env := portaltest.Start(t, portaltest.Options{Watch: true, Clock: clock, Config: func(c *config.Config) {
		c.PublicURL, c.DigestWebhookURL = "https://keys.example.com", hook.URL
		c.DigestSMTPURL, c.DigestEmailFrom, c.DigestEmailTo = "smtp://"+relay.Addr, "keyportal@example.com", []string{"ops@example.com"}
	}})
	const (
		last     = "keyportal_digest_last_success_timestamp_seconds"
		next     = "keyportal_digest_next_timestamp_seconds"
		hookOK   = `keyportal_digest_sent_total{destination="webhook",result="ok"}`
		hookErr  = `keyportal_digest_sent_total{destination="webhook",result="error"}`
		emailOK  = `keyportal_digest_sent_total{destination="email",result="ok"}`
		emailErr = `keyportal_digest_sent_total{destination="email",result="error"}`
	)
	want := func(when string, got map[string]float64, wants map[string]float64) {
		t.Helper()
		for name, v := range wants {
			if g, ok := got[name]; !ok || g != v {
				t.Errorf("%s: %s = %v (present %v), want %v", when, name, g, ok, v)
			}
		}
	}

	before := scrape(t, env)
	if _, ok := before[last]; ok {
		t.Errorf("before any digest, %s is %v; want it absent", last, before[last])
	}
	want("before any digest", before, map[string]float64{hookOK: 0, hookErr: 0, emailOK: 0, emailErr: 0,
		next: float64(tuesday.Unix())})

	if out, err := env.Portal.Digest().SendSlot(context.Background(), monday); err != nil || out != digest.Sent {
		t.Fatalf("Monday's digest: %q, %v", out, err)
	}
	if len(hook.Payloads()) != 1 || len(relay.Messages()) != 1 {
		t.Fatalf("Monday's digest reached the webhook %d times and the mailbox %d times, want once each", len(hook.Payloads()), len(relay.Messages()))
	}
	want("after Monday's digest", scrape(t, env), map[string]float64{hookOK: 1, hookErr: 0, emailOK: 1, emailErr: 0,
		last: float64(monday.Unix()), next: float64(tuesday.Unix())})

	// The webhook's URL was rotated: Tuesday's digest reaches only the mailbox.
	hook.SetFail(true)
	clock.Set(tuesday)
	if _, err := env.Portal.Digest().SendSlot(context.Background(), tuesday); err == nil {
		t.Fatal("Tuesday's digest: no error with the webhook failing")
	}
	got := scrape(t, env)
	want("after the webhook failed", got, map[string]float64{hookOK: 1, hookErr: 1, emailOK: 2, emailErr: 0,
		last: float64(monday.Unix()), next: float64(tuesday.AddDate(0, 0, 1).Unix())})
	for series := range got {
		for _, where := range []string{"127.0.0.1", "hooks", "token", "smtp", "ops@example.com", "keyportal@example.com"} {
			if strings.HasPrefix(series, "keyportal_digest") && strings.Contains(series, where) {
				t.Errorf("%s names where the digest goes (%s)", series, where)
			}
		}
	}
}

// Without a destination there is no digest to watch: no digest metrics.
func TestNoDigestMetricsWithoutADestination(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{Watch: true})
	for series := range scrape(t, env) {
		if strings.HasPrefix(series, "keyportal_digest_") {
			t.Errorf("/metrics has %s with no digest configured", series)
		}
	}
}
