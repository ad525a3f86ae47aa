package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// ErrUnavailable is what a store that has not reached its database since
// it opened answers instead: its migrations may not be applied, so it does
// not read or write.
var ErrUnavailable = errors.New("audit database unavailable")

const (
	// connectTimeout bounds one connection to PostgreSQL, unless the URL
	// says otherwise (connect_timeout).
	connectTimeout = 5 * time.Second
	// attemptTimeout bounds one try to connect and migrate, which may wait
	// for another replica's migrations (an advisory lock).
	attemptTimeout = time.Minute
	// The background tries start a second apart and back off to one every
	// half minute: a database that is down for an upgrade is not hammered,
	// and one that is back is used again within half a minute (at once by
	// a readiness probe, which tries itself).
	retryFirst = time.Second
	retryMax   = 30 * time.Second
)

// availability is whether the store has reached its database: until then
// it keeps trying, in the background and whenever Ping asks, one try at a
// time, and logs each change of state once, not each failed try.
type availability struct {
	try func(context.Context) error // connect and apply the migrations
	log *slog.Logger

	ready   atomic.Bool
	readyCh chan struct{}

	closing    context.Context // cancelled by Close
	end        context.CancelFunc
	background sync.WaitGroup // the reconnector and the pruner
	tries      sync.WaitGroup // the try under way, which Close waits for
	pruning    atomic.Bool    // PruneEvery has started
	flight     singleflight.Group

	mu          sync.Mutex
	closed      bool
	beforeReady []func() // what to do as the store becomes Ready, before Ready is closed
	lastErr     error
	failed      bool   // a try has failed: the store has been unavailable
	logged      string // the failure last logged
}

func (a *availability) init(log *slog.Logger, try func(context.Context) error) {
	a.log, a.try, a.readyCh = log, try, make(chan struct{})
	a.closing, a.end = context.WithCancel(context.Background())
}

// Ready is closed once the store has reached its database, applied the
// migrations and done what waited for it (pruning): from then on events
// are stored.
func (a *availability) Ready() <-chan struct{} { return a.readyCh }

// IsReady reports whether Ready is closed.
func (a *availability) IsReady() bool { return a.ready.Load() }

// whenReady arranges for f to run as the store becomes Ready, and says
// so; false when it is Ready already, and f is the caller's to run.
func (a *availability) whenReady(f func()) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.IsReady() {
		return false
	}
	a.beforeReady = append(a.beforeReady, f)
	return true
}

// unavailable is ErrUnavailable, with the last failure, until the store is
// Ready; nil after.
func (a *availability) unavailable() error {
	if a.IsReady() {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lastErr == nil {
		return ErrUnavailable
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, a.lastErr)
}

// attempt starts a try, or joins the one under way.
func (a *availability) attempt() <-chan singleflight.Result {
	return a.flight.DoChan("connect", func() (any, error) {
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			return nil, errors.New("audit database closed")
		}
		a.tries.Add(1)
		a.mu.Unlock()
		defer a.tries.Done()
		if a.IsReady() {
			return nil, nil
		}
		ctx, cancel := context.WithTimeout(a.closing, attemptTimeout)
		defer cancel()
		err := a.try(ctx)
		a.settle(err)
		return nil, err
	})
}

// tryNow tries to reach the database, waiting at most as long as ctx.
func (a *availability) tryNow(ctx context.Context) error {
	for again := true; ; again = false {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		case r := <-a.attempt():
			if r.Err == nil {
				return nil
			}
			// A try this call joined may have begun before the database
			// came back: one more, begun after, is the answer.
			if !r.Shared || !again {
				return fmt.Errorf("%w: %w", ErrUnavailable, r.Err)
			}
		}
	}
}

// keepTrying tries in the background, backing off, until the store is
// Ready or closed.
func (a *availability) keepTrying() {
	a.background.Go(func() {
		wait := retryFirst
		for {
			t := time.NewTimer(wait + rand.N(wait/4)) // replicas do not all knock at once
			select {
			case <-a.closing.Done():
				t.Stop()
				return
			case <-a.readyCh:
				t.Stop()
				return
			case <-t.C:
			}
			<-a.attempt() // bounded by attemptTimeout, and ended by Close
			if a.IsReady() {
				return
			}
			wait = min(2*wait, retryMax)
		}
	})
}

// settle records a try's outcome, and logs it when the state changed:
// the first failure, a failure for another reason, the success after
// failures.
func (a *availability) settle(err error) {
	if err == nil {
		a.mu.Lock()
		if a.IsReady() {
			a.mu.Unlock()
			return
		}
		a.ready.Store(true)
		failed, todo := a.failed, a.beforeReady
		a.lastErr, a.beforeReady = nil, nil
		a.mu.Unlock()
		for _, f := range todo {
			f()
		}
		close(a.readyCh)
		if failed {
			a.log.Info("audit database reachable: migrations applied, events are stored in it again")
		}
		return
	}
	if a.closing.Err() != nil {
		return // closing: the failure is ours
	}
	a.mu.Lock()
	first, changed := !a.failed, err.Error() != a.logged
	a.failed, a.lastErr, a.logged = true, err, err.Error()
	a.mu.Unlock()
	switch {
	case first:
		a.log.Warn("audit database unavailable: the portal serves keys as usual and writes each event to its log only, "+
			"/readyz is not ready, and it keeps trying to reach the database", "error", err.Error())
	case changed:
		a.log.Warn("audit database still unavailable, now for another reason; still trying", "error", err.Error())
	}
}

// shutdown stops the background work and waits for it and for a try
// under way.
func (a *availability) shutdown() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.end()
	a.tries.Wait()
	a.background.Wait()
}
