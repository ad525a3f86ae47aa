package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/internal/digest"
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
}
