// Package ttlcache is the one short-lived cache of the portal: a map whose
// entries expire and whose size is bounded, so that a cache kept for speed
// (fleet lists, decoded sessions, session files) can never grow with the
// number of people or requests it has seen.
package ttlcache

import (
	"sync"
	"time"
)

// Cache holds entries that are good for ttl after they were put, and at
// most max of them: past that, expired entries go first, then arbitrary
// ones (map order). It bounds memory, not the hit rate.
type Cache[K comparable, V any] struct {
	mu    sync.Mutex
	items map[K]entry[V]
	ttl   time.Duration
	max   int
	now   func() time.Time
}

type entry[V any] struct {
	value V
	at    time.Time
}

// New returns an empty Cache that reads the time from now, so that tests
// can move it.
func New[K comparable, V any](ttl time.Duration, max int, now func() time.Time) *Cache[K, V] {
	return &Cache[K, V]{items: map[K]entry[V]{}, ttl: ttl, max: max, now: now}
}

// Get returns k's value while it is fresh.
func (c *Cache[K, V]) Get(k K) (V, bool) {
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

// Put stores v under k, fresh from now.
func (c *Cache[K, V]) Put(k K, v V) {
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
	c.items[k] = entry[V]{value: v, at: now}
}

// Len is the number of entries held, fresh or not.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
