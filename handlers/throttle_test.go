package handlers

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/config"
)

// A refused attempt costs nothing, and guessing at many accounts cannot
// grow the throttle's memory for good: buckets that have filled up again
// are forgotten.
func TestThrottleRefusalsAreFreeAndIdleBucketsAreForgotten(t *testing.T) {
	now := time.Now()
	th := newSignInThrottle(config.Limit{N: 1000, Per: time.Minute}, config.Limit{N: 2, Per: time.Minute}, time.Now)
	for i := range 2 {
		if _, wait, _ := th.allow(now, "192.0.2.1", "a@example.com"); wait != 0 {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	for range 5 {
		if _, wait, which := th.allow(now, "192.0.2.1", "A@Example.com "); wait != 30*time.Second || which != limitedAccount {
			t.Fatalf("3rd attempt: wait %v, limit %q", wait, which)
		}
	}
	// The refusals did not push the wait further out.
	if _, wait, _ := th.allow(now.Add(30*time.Second), "192.0.2.1", "a@example.com"); wait != 0 {
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

// A success gives back what its attempt took; a refused credential keeps
// it. An attempt still under way makes its address untrusted, so a burst
// from one fresh address cannot all pass a used-up account limit.
func TestThrottleChargesFailuresOnly(t *testing.T) {
	now := time.Now()
	th := newSignInThrottle(config.Limit{N: 100, Per: time.Minute}, config.Limit{N: 2, Per: time.Minute}, func() time.Time { return now })
	wrong := &apiclient.Error{Code: apiclient.CodeUnauthorized}
	for range 5 {
		a, wait, _ := th.allow(now, "192.0.2.1", "a@example.com")
		if wait != 0 {
			t.Fatal("a success was charged")
		}
		th.settle(now, a, nil)
	}
	for range 2 {
		a, _, _ := th.allow(now, "192.0.2.1", "a@example.com")
		th.settle(now, a, wrong)
	}
	if _, wait, which := th.allow(now, "192.0.2.1", "a@example.com"); wait != 30*time.Second || which != limitedAccount {
		t.Errorf("after 2 failures: wait %v, limit %q", wait, which)
	}
	// Another address that has not failed gets through, once at a time.
	a, wait, _ := th.allow(now, "192.0.2.2", "a@example.com")
	if wait != 0 {
		t.Fatalf("a fresh address was refused for %v", wait)
	}
	if _, wait, _ := th.allow(now, "192.0.2.2", "a@example.com"); wait == 0 {
		t.Error("a second attempt from it while the first is under way got through")
	}
	th.settle(now, a, nil)
	th.learn("A", "a@example.com")
	if _, wait, _ := th.allow(now, "192.0.2.3", "a"); wait != 0 {
		t.Error("a fresh address was refused under the account's other name")
	}
	if _, wait, _ := th.allow(now, "192.0.2.1", " A "); wait != 30*time.Second {
		t.Errorf("the failed address under the account's other name: wait %v", wait)
	}
}
