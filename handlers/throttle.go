package handlers

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/keyportal/keyportal/internal/config"
)

// signInThrottle limits sign-in attempts per client address and per
// account before balena is asked, with a token bucket (golang.org/x/time/rate)
// for each. It lives in the process: with several replicas each keeps its
// own count, and balena's own login throttle still stands behind them.
type signInThrottle struct {
	mu        sync.Mutex
	ip, acct  config.Limit
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim   *rate.Limiter
	limit config.Limit
}

// Which limit refused an attempt.
const (
	limitedAddress = "address"
	limitedAccount = "account"
)

func newSignInThrottle(ip, acct config.Limit) *signInThrottle {
	return &signInThrottle{ip: ip, acct: acct, buckets: map[string]*bucket{}}
}

// allow takes one attempt from the client's bucket and, when account is not
// empty, from the account's. When either is empty it takes nothing and
// says how long to wait and which limit it was.
func (t *signInThrottle) allow(now time.Time, ip, account string) (wait time.Duration, which string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	type take struct {
		key   string
		limit config.Limit
		which string
	}
	takes := []take{{"ip " + ip, t.ip, limitedAddress}}
	if account = strings.ToLower(strings.TrimSpace(account)); account != "" {
		takes = append(takes, take{"account " + account, t.acct, limitedAccount})
	}
	var done []*rate.Reservation
	for _, tk := range takes {
		b := t.buckets[tk.key]
		if b == nil {
			b = &bucket{lim: rate.NewLimiter(rate.Every(tk.limit.Per/time.Duration(tk.limit.N)), tk.limit.N), limit: tk.limit}
			t.buckets[tk.key] = b
		}
		r := b.lim.ReserveN(now, 1)
		if d := r.DelayFrom(now); d > wait {
			wait, which = d, tk.which
		}
		done = append(done, r)
	}
	if wait > 0 {
		for _, r := range done {
			r.CancelAt(now)
		}
	}
	return wait, which
}

// sweep forgets buckets that have filled up again (they behave like new
// ones), at most once a minute, so that guessing many accounts or addresses
// cannot grow the map without bound.
func (t *signInThrottle) sweep(now time.Time) {
	if now.Sub(t.lastSweep) < time.Minute {
		return
	}
	t.lastSweep = now
	for k, b := range t.buckets {
		if b.lim.TokensAt(now) >= float64(b.limit.N) {
			delete(t.buckets, k)
		}
	}
}
