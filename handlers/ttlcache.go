package handlers

import (
	"sync"
	"time"
)

// ttlCache is a map whose entries are good for ttl after they were put and
// which holds at most max of them: past that, expired entries go first,
// then arbitrary ones (map order). It bounds the memory of the portal's
// short-lived caches (fleets, decoded sessions, session files), not their
// hit rate.
type ttlCache[K comparable, V any] struct {
	mu    sync.Mutex
	items map[K]ttlEntry[V]
	ttl   time.Duration
	max   int
	now   func() time.Time
}

type ttlEntry[V any] struct {
	value V
	at    time.Time
}

func newTTLCache[K comparable, V any](ttl time.Duration, max int, now func() time.Time) *ttlCache[K, V] {
	return &ttlCache[K, V]{items: map[K]ttlEntry[V]{}, ttl: ttl, max: max, now: now}
}

// get returns k's value while it is fresh.
func (c *ttlCache[K, V]) get(k K) (V, bool) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.items[k]
	c.mu.Unlock()
	if !ok || now.Sub(e.at) >= c.ttl {
		var zero V
		return zero, false
	}
	return e.value, true
}

func (c *ttlCache[K, V]) put(k K, v V) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.items) >= c.max {
		for k, e := range c.items {
			if now.Sub(e.at) >= c.ttl {
				delete(c.items, k)
			}
		}
		for k := range c.items {
			if len(c.items) < c.max {
				break
			}
			delete(c.items, k)
		}
	}
	c.items[k] = ttlEntry[V]{value: v, at: now}
}
