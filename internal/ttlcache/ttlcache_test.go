package ttlcache

import (
	"testing"
	"time"
)

func TestEntriesExpireAfterTTL(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := New[string, int](time.Minute, 10, func() time.Time { return now })
	c.Put("a", 1)
	now = now.Add(time.Minute - time.Nanosecond)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Errorf("just before the TTL: %d, %v", v, ok)
	}
	now = now.Add(time.Nanosecond)
	if _, ok := c.Get("a"); ok {
		t.Error("an entry as old as the TTL is still served")
	}
}

// A full cache makes room by dropping expired entries before fresh ones.
func TestFullCacheDropsExpiredEntriesFirst(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c := New[int, int](time.Minute, 4, func() time.Time { return now })
	c.Put(1, 1)
	c.Put(2, 2)
	now = now.Add(2 * time.Minute)
	c.Put(3, 3)
	c.Put(4, 4)
	c.Put(5, 5)
	if n := c.Len(); n != 3 {
		t.Errorf("%d entries, want the 3 fresh ones", n)
	}
	for k := 3; k <= 5; k++ {
		if _, ok := c.Get(k); !ok {
			t.Errorf("fresh entry %d was dropped", k)
		}
	}
	for k := range 100 {
		c.Put(10+k, k)
	}
	if n := c.Len(); n > 4 {
		t.Errorf("%d entries, want at most 4", n)
	}
}
