package handlers

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/keyportal/keyportal/apiclient"
)

// fleetTTL is how long a session's fleet list is reused. Fleets change
// rarely and never through the portal, and the list only fills the fleet
// pickers, so a minute-old list costs nothing; reusing it saves every full
// page a call to balena.
const fleetTTL = time.Minute

// maxFleetEntries bounds the cache; past it, expired entries are dropped
// and, if still full, the cache starts over.
const maxFleetEntries = 10_000

// fleetCache keeps each token's fleet list for fleetTTL. It is keyed by a
// hash of the token, so that it never holds a token, and per token, so
// that no account sees another's fleets.
type fleetCache struct {
	mu    sync.Mutex
	items map[[32]byte]fleetEntry
	now   func() time.Time
}

type fleetEntry struct {
	fleets  []apiclient.Fleet
	expires time.Time
}

func newFleetCache(now func() time.Time) *fleetCache {
	return &fleetCache{items: map[[32]byte]fleetEntry{}, now: now}
}

// cached returns the token's fleets if the cache has them fresh.
func (fc *fleetCache) cached(token string) ([]apiclient.Fleet, bool) {
	key := sha256.Sum256([]byte(token))
	now := fc.now()
	fc.mu.Lock()
	e, ok := fc.items[key]
	fc.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.fleets, true
	}
	return nil, false
}

// get returns the fleets the token can reach, from the cache when fresh.
func (fc *fleetCache) get(ctx context.Context, token string, api *apiclient.Session) ([]apiclient.Fleet, error) {
	if fleets, ok := fc.cached(token); ok {
		return fleets, nil
	}
	key := sha256.Sum256([]byte(token))
	now := fc.now()
	fleets, err := api.Fleets(ctx)
	if err != nil {
		return nil, err
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(fc.items) >= maxFleetEntries {
		for k, v := range fc.items {
			if !now.Before(v.expires) {
				delete(fc.items, k)
			}
		}
		if len(fc.items) >= maxFleetEntries {
			clear(fc.items)
		}
	}
	fc.items[key] = fleetEntry{fleets: fleets, expires: now.Add(fleetTTL)}
	return fleets, nil
}
