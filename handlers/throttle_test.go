package handlers

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyportal/keyportal/internal/config"
)

// A refused attempt costs nothing, and guessing at many accounts cannot
// grow the throttle's memory for good: buckets that have filled up again
// are forgotten.
func TestThrottleRefusalsAreFreeAndIdleBucketsAreForgotten(t *testing.T) {
	now := time.Now()
	th := newSignInThrottle(config.Limit{N: 1000, Per: time.Minute}, config.Limit{N: 2, Per: time.Minute})
	for i := range 2 {
		if wait, _ := th.allow(now, "192.0.2.1", "a@example.com"); wait != 0 {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	for range 5 {
		if wait, which := th.allow(now, "192.0.2.1", "A@Example.com "); wait != 30*time.Second || which != limitedAccount {
			t.Fatalf("3rd attempt: wait %v, limit %q", wait, which)
		}
	}
	// The refusals did not push the wait further out.
	if wait, _ := th.allow(now.Add(30*time.Second), "192.0.2.1", "a@example.com"); wait != 0 {
		t.Errorf("after 30 s: still refused for %v", wait)
	}
	for i := range 500 {
		th.allow(now, "192.0.2.1", fmt.Sprintf("guess-%d@example.com", i))
	}
	if n := len(th.buckets); n != 502 {
		t.Fatalf("%d buckets, want 502", n)
	}
	th.allow(now.Add(2*time.Minute), "192.0.2.2", "")
	if n := len(th.buckets); n != 1 {
		t.Errorf("%d buckets after every one refilled, want 1 (the new one)", n)
	}
}
