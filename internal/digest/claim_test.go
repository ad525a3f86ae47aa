package digest_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/keyportal/keyportal/internal/digest"
	"github.com/keyportal/keyportal/internal/redistest"
)

// A Redis that goes away just after a replica claimed a digest (failed
// over: the replica that takes over has the claim) must not keep that
// digest from going out once it answers again: the claim is the same
// replica's own.
func TestADigestClaimedJustBeforeRedisWentAwayIsSentOnceItAnswers(t *testing.T) {
	rs := redistest.Start(t)
	w := newWorld(t, monday)
	seed(t, w)
	h := newHook(t)
	ctx := context.Background()
	ledger := digest.NewRedisLedger(rs.URL, time.Minute)
	t.Cleanup(func() { ledger.Close() })
	if err := ledger.Put(ctx, digest.Record{Slot: monday, At: monday}); err != nil {
		t.Fatal(err)
	}
	w.clock.Set(monday.AddDate(0, 0, 1).Add(time.Hour)) // Tuesday 09:00: Tuesday's 08:00 digest is due
	gone := make(chan struct{})
	posted := make(chan struct{}, 4)
	svc := w.service(t, &goneAfterClaim{Ledger: ledger, rs: rs, t: t, gone: gone}, false, notify{digest.Webhook{URL: h.URL, Loc: time.UTC}, posted})
	run, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(run) }()
	<-gone
	rs.Restart(t)
	select {
	case <-posted:
	case <-time.After(45 * time.Second):
		t.Error("the digest was not sent within 45 s of Redis answering again")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run stopped with %v", err)
	}
	if n := len(h.Payloads()); n != 1 {
		t.Errorf("the webhook got %d digests, want 1", n)
	}
}

// goneAfterClaim stops Redis, its data saved, right after its first
// successful claim, as a failover between two commands does.
type goneAfterClaim struct {
	digest.Ledger
	rs   *redistest.Server
	t    *testing.T
	once sync.Once
	gone chan struct{}
}

func (g *goneAfterClaim) Claim(ctx context.Context, slot time.Time) (func(), bool, error) {
	release, ok, err := g.Ledger.Claim(ctx, slot)
	if ok {
		g.once.Do(func() {
			saveRedis(g.t, g.rs)
			g.rs.Stop()
			close(g.gone)
		})
	}
	return release, ok, err
}
