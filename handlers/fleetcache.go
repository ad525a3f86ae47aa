package handlers

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/ttlcache"
)

// fleetTTL is how long a session's fleet list is reused. Fleets change
// rarely and never through the portal, and the list only fills the fleet
// pickers, so a minute-old list costs nothing; reusing it saves every full
// page a call to balena.
const fleetTTL = time.Minute

// maxFleetEntries bounds the cache (see ttlcache.Cache).
const maxFleetEntries = 10_000

// fleetCache keeps each token's fleet list for fleetTTL. It is keyed by a
// hash of the token, so that it never holds a token, and per token, so
// that no account sees another's fleets.
type fleetCache struct {
	lists *ttlcache.Cache[[32]byte, []apiclient.Fleet]
}

func newFleetCache(now func() time.Time) *fleetCache {
	return &fleetCache{lists: ttlcache.New[[32]byte, []apiclient.Fleet](fleetTTL, maxFleetEntries, now)}
}

// cached returns the token's fleets if the cache has them fresh.
func (fc *fleetCache) cached(token string) ([]apiclient.Fleet, bool) {
	return fc.lists.Get(sha256.Sum256([]byte(token)))
}

// get returns the fleets the token can reach, from the cache when fresh.
func (fc *fleetCache) get(ctx context.Context, token string, api *apiclient.Session) ([]apiclient.Fleet, error) {
	key := sha256.Sum256([]byte(token))
	if fleets, ok := fc.lists.Get(key); ok {
		return fleets, nil
	}
	fleets, err := api.Fleets(ctx)
	if err != nil {
		return nil, err
	}
	fc.lists.Put(key, fleets)
	return fleets, nil
}

// cachedFleets is a user's balena whose fleet list comes from the cache.
type cachedFleets struct {
	*apiclient.Session
	token string
	cache *fleetCache
}

func (s cachedFleets) Fleets(ctx context.Context) ([]apiclient.Fleet, error) {
	return s.cache.get(ctx, s.token, s.Session)
}
