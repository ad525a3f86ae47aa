// Package testclock is a settable time for tests that share it between the
// stand-in and the code under test, so that they move through days without
// waiting.
package testclock

import (
	"sync"
	"time"
)

// Clock is a time that moves only when told to; safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New starts a Clock at now.
func New(now time.Time) *Clock { return &Clock{now: now} }

// Now is the Clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the Clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set puts the Clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
