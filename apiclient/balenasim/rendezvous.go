package balenasim

import (
	"context"
	"sync"
	"time"
)

// Rendezvous holds the next request to each of its routes until a request
// to every one of them has arrived, so that a test can prove calls are
// made in parallel without timing anything. Sent at once, they meet at
// once; sent one after another, the first waits in vain for a partner that
// is only sent after its answer, goes on alone after a while, and Met
// reports false. A held request is counted as in flight (see Counters).
type Rendezvous struct {
	mu      sync.Mutex
	arrived map[string]chan struct{} // closed when a request to the route is held
	met     int
	wait    time.Duration
}

// Rendezvous makes the next requests to routes (normalised, as in
// Counters) meet; wait bounds how long one is held when its partners never
// come. It replaces any rendezvous set before.
func (s *Sim) Rendezvous(wait time.Duration, routes ...string) *Rendezvous {
	rv := &Rendezvous{arrived: map[string]chan struct{}{}, wait: wait}
	for _, r := range routes {
		rv.arrived[r] = make(chan struct{})
	}
	s.rvMu.Lock()
	s.rv = rv
	s.rvMu.Unlock()
	return rv
}

// Met reports whether every route's request found all its partners.
func (rv *Rendezvous) Met() bool {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.met == len(rv.arrived)
}

// hold is called for every request: the first to each of the
// rendezvous's routes waits there for the others.
func (s *Sim) hold(ctx context.Context, route string) {
	s.rvMu.Lock()
	rv := s.rv
	s.rvMu.Unlock()
	if rv == nil {
		return
	}
	rv.mu.Lock()
	mine, ok := rv.arrived[route]
	first := false
	if ok {
		select {
		case <-mine: // a retry of the same call is not a partner
		default:
			close(mine)
			first = true
		}
	}
	rv.mu.Unlock()
	if !first {
		return
	}
	timeout := time.NewTimer(rv.wait)
	defer timeout.Stop()
	for r, theirs := range rv.arrived {
		if r == route {
			continue
		}
		select {
		case <-theirs:
		case <-timeout.C:
			return
		case <-ctx.Done():
			return
		}
	}
	rv.mu.Lock()
	rv.met++
	rv.mu.Unlock()
}
