// Package watch reads the key inventory in the background so that keys
// about to expire can be alerted on. A refresh costs balena a constant
// number of calls whatever the number of keys (counts through /$count and
// one single-row list per kind, all at once), never reads a secret, and
// survives balena failures by keeping the last good figures.
package watch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
)

// CallsPerRefresh is what one refresh costs balena where the caller may read
// actor (balenaCloud): per kind, four counts and one single-key list with
// its count.
const CallsPerRefresh = 3 * (4 + 2)

// Figures are the inventory as one refresh read it.
type Figures struct {
	// Keys counts each kind's keys by status; a kind's four statuses add
	// up to all its keys.
	Keys map[apiclient.KeyKind]map[apikeys.Status]int
	// NextExpiry is each kind's soonest future expiry; absent when no key
	// of the kind will expire.
	NextExpiry map[apiclient.KeyKind]time.Time
	// At is when they were read, by the watcher's clock.
	At time.Time
}

// State is what the watcher knows now.
type State struct {
	Figures   Figures // the last good figures; zero before the first success
	OK        bool    // there has been a successful refresh
	Errors    int     // failed refreshes since start
	LastError error   // the latest failure, nil after a success
}

// Watcher refreshes the figures with one balena credential.
type Watcher struct {
	balena *apiclient.Session
	warn   time.Duration
	now    func() time.Time
	log    *slog.Logger

	mu    sync.Mutex
	state State
}

// New makes a Watcher that reads as token (an API key or session token),
// counting keys that expire within warn as expiring, by the clock now.
func New(client *apiclient.Client, token string, warn time.Duration, now func() time.Time, log *slog.Logger) *Watcher {
	if warn <= 0 {
		warn = apikeys.DefaultWarn
	}
	return &Watcher{balena: client.As(token), warn: warn, now: now, log: log}
}

// Warn is the window within which a key counts as expiring.
func (w *Watcher) Warn() time.Duration { return w.warn }

// State returns what the watcher knows now.
func (w *Watcher) State() State {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.state
	s.Figures.Keys = make(map[apiclient.KeyKind]map[apikeys.Status]int, len(w.state.Figures.Keys))
	for k, m := range w.state.Figures.Keys {
		c := make(map[apikeys.Status]int, len(m))
		for st, n := range m {
			c[st] = n
		}
		s.Figures.Keys[k] = c
	}
	s.Figures.NextExpiry = make(map[apiclient.KeyKind]time.Time, len(w.state.Figures.NextExpiry))
	for k, t := range w.state.Figures.NextExpiry {
		s.Figures.NextExpiry[k] = t
	}
	return s
}

// Run refreshes now and then every interval until ctx ends.
func (w *Watcher) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_ = w.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Refresh reads the figures once. On failure the last good figures stay,
// the error count grows, and the error is returned and logged with the
// age of the figures kept.
func (w *Watcher) Refresh(ctx context.Context) error {
	now := w.now()
	f, err := w.read(ctx, now)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return err // stopping, not failing
		}
		w.state.Errors++
		w.state.LastError = err
		attrs := []any{"error", err, "failures", w.state.Errors}
		if w.state.OK {
			attrs = append(attrs, "figures_age", now.Sub(w.state.Figures.At).Round(time.Second))
		}
		w.log.Warn("watch: refresh failed; keeping the last figures", attrs...)
		return err
	}
	w.state.Figures, w.state.OK, w.state.LastError = f, true, nil
	return nil
}

// read asks balena for every figure at once.
func (w *Watcher) read(ctx context.Context, now time.Time) (Figures, error) {
	// balena keeps milliseconds: the first millisecond at or after the
	// window's end, so that "expires at or after" is exact.
	edge := now.Add(w.warn)
	if t := edge.Truncate(time.Millisecond); !t.Equal(edge) {
		edge = t.Add(time.Millisecond)
	}
	// Per kind: all its keys, those that never expire, those not yet
	// expired (balena's own clock decides that) and before the edge, and
	// those after it.
	const perKind = 4
	qs := make([]apiclient.KeyQuery, 0, perKind*len(apikeys.Kinds))
	for _, kind := range apikeys.Kinds {
		kinds := []apiclient.KeyKind{kind}
		qs = append(qs, apiclient.KeyQuery{Kinds: kinds},
			apiclient.KeyQuery{Kinds: kinds, Status: apiclient.StatusNever},
			apiclient.KeyQuery{Kinds: kinds, Status: apiclient.StatusActive, ExpiresBefore: &edge},
			apiclient.KeyQuery{Kinds: kinds, ExpiresAfter: &edge})
	}
	// One read of the fleets for all of this refresh's counts and lists,
	// where a key's actor cannot be read; the next refresh reads afresh.
	api := w.balena.Shared()
	var counts []int
	next := make([]*time.Time, len(apikeys.Kinds))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		counts, err = apikeys.CountEach(ctx, api, qs)
		return err
	})
	for i, kind := range apikeys.Kinds {
		g.Go(func() error {
			page, err := api.ListKeys(ctx, apiclient.KeyQuery{Kinds: []apiclient.KeyKind{kind}, Status: apiclient.StatusActive,
				ExpiresAfter: &now, Sort: apiclient.SortExpiry, Top: 1})
			if err == nil && len(page.Keys) > 0 {
				next[i] = page.Keys[0].ExpiryDate
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Figures{}, err
	}
	f := Figures{Keys: map[apiclient.KeyKind]map[apikeys.Status]int{}, NextExpiry: map[apiclient.KeyKind]time.Time{}, At: now}
	for i, kind := range apikeys.Kinds {
		total, never, expiring, active := counts[perKind*i], counts[perKind*i+1], counts[perKind*i+2], counts[perKind*i+3]
		f.Keys[kind] = map[apikeys.Status]int{
			apikeys.StatusActive:   active,
			apikeys.StatusExpiring: expiring,
			apikeys.StatusNever:    never,
			// The rest: they add up to the kind's total by construction.
			apikeys.StatusExpired: max(0, total-never-expiring-active),
		}
		if next[i] != nil {
			f.NextExpiry[kind] = *next[i]
		}
	}
	return f, nil
}
