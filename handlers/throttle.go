package handlers

import (
	"strings"
	"sync"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/internal/ttlcache"
)

// signInThrottle limits failed sign-in attempts per client address and
// per account before balena is asked, with a token bucket for each. It
// lives in the process: with several replicas each keeps its own count,
// and balena's own login throttle still stands behind them.
//
// Only failures count. An attempt takes a token from each bucket on its
// way in (so that a burst of parallel guesses cannot slip past the count)
// and gets them back if balena accepts the credentials, or never judged
// them (balena down, a token that cannot be sent). When an account's
// bucket is empty, an address that has no failure in the account limit's
// period and no attempt under way still gets through: that is the
// account's owner signing in from their own network, whom someone
// guessing elsewhere must not be able to lock out.
//
// An account signs in to balena by email or by username. Before balena
// answers, the throttle sees only what was typed, so it keeps a bucket per
// name, and learns at each successful sign-in which username and email
// belong together: from then on an attempt under either name is checked
// against and charged to both buckets.
type signInThrottle struct {
	mu        sync.Mutex
	ip, acct  config.Limit
	buckets   map[string]*bucket
	aliases   *ttlcache.Cache[string, string] // a sign-in name -> the account's other name
	lastSweep time.Time
}

type bucket struct {
	tokens float64 // as of at
	at     time.Time
	limit  config.Limit
	// For an address: its attempts under way, and its last failure.
	pending int
	failed  time.Time
}

// Which limit refused an attempt.
const (
	limitedAddress = "address"
	limitedAccount = "account"
)

// aliasesFor bounds how long, and for how many accounts, the throttle
// remembers which username and email belong together.
const (
	aliasesFor = 30 * 24 * time.Hour
	aliasesMax = 10000
)

func newSignInThrottle(ip, acct config.Limit, now func() time.Time) *signInThrottle {
	return &signInThrottle{ip: ip, acct: acct, buckets: map[string]*bucket{},
		aliases: ttlcache.New[string, string](aliasesFor, aliasesMax, now)}
}

// level is how many attempts the bucket holds at now.
func (b *bucket) level(now time.Time) float64 {
	if now.After(b.at) {
		b.tokens = min(float64(b.limit.N), b.tokens+float64(now.Sub(b.at))*float64(b.limit.N)/float64(b.limit.Per))
		b.at = now
	}
	return b.tokens
}

// wait is how long until the bucket holds an attempt.
func (b *bucket) wait(now time.Time) time.Duration {
	if l := b.level(now); l < 1 {
		return time.Duration((1 - l) * float64(b.limit.Per) / float64(b.limit.N))
	}
	return 0
}

// attempt is a sign-in attempt the throttle let through, until settled.
type attempt struct {
	ip    *bucket
	taken []*bucket
}

// allow lets an attempt from ip for account (empty for a pasted token)
// through, taking one from the address's bucket and, unless the address
// is trusted (see signInThrottle), from the account's. When it refuses it
// takes nothing and says how long to wait and which limit it was. Every
// attempt it lets through must be settled.
func (t *signInThrottle) allow(now time.Time, ip, account string) (a *attempt, wait time.Duration, which string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	addr := t.bucket("ip "+ip, t.ip, now)
	var accts []*bucket
	for _, name := range t.names(account) {
		accts = append(accts, t.bucket("account "+name, t.acct, now))
	}
	acctWait := time.Duration(0)
	for _, b := range accts {
		acctWait = max(acctWait, b.wait(now))
	}
	trusted := addr.pending == 0 && (addr.failed.IsZero() || now.Sub(addr.failed) >= t.acct.Per)
	switch w := addr.wait(now); {
	case acctWait > w && !trusted:
		return nil, acctWait, limitedAccount
	case w > 0:
		return nil, w, limitedAddress
	}
	a = &attempt{ip: addr, taken: []*bucket{addr}}
	if acctWait == 0 {
		a.taken = append(a.taken, accts...)
	}
	for _, b := range a.taken {
		b.tokens--
	}
	addr.pending++
	return a, 0, ""
}

// settle ends an attempt with balena's verdict: refused credentials (a
// wrong password or code, an unknown token) keep what the attempt took and
// mark the address as failed; anything else gives it back.
func (t *signInThrottle) settle(now time.Time, a *attempt, err error) {
	if a == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	a.ip.pending--
	switch apiclient.ErrorCode(err) {
	case apiclient.CodeUnauthorized, apiclient.CodeTwoFactor:
		a.ip.failed = now
		return
	}
	for _, b := range a.taken {
		b.level(now)
		b.tokens = min(float64(b.limit.N), b.tokens+1)
	}
}

// learn records that username and email name one account, as a
// successful sign-in shows.
func (t *signInThrottle) learn(username, email string) {
	u, e := strings.ToLower(strings.TrimSpace(username)), strings.ToLower(strings.TrimSpace(email))
	if u == "" || e == "" || u == e {
		return
	}
	t.aliases.Put(u, e)
	t.aliases.Put(e, u)
}

// names are the buckets of an account typed as account: its own, and
// that of its other name once learnt.
func (t *signInThrottle) names(account string) []string {
	a := strings.ToLower(strings.TrimSpace(account))
	if a == "" {
		return nil
	}
	if other, ok := t.aliases.Get(a); ok {
		return []string{a, other}
	}
	return []string{a}
}

func (t *signInThrottle) bucket(key string, limit config.Limit, now time.Time) *bucket {
	b := t.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(limit.N), at: now, limit: limit}
		t.buckets[key] = b
	}
	return b
}

// sweep forgets buckets that have filled up again (they behave like new
// ones) and whose address has not failed within the account period, at
// most once a minute, so that guessing many accounts or addresses cannot
// grow the map without bound.
func (t *signInThrottle) sweep(now time.Time) {
	if now.Sub(t.lastSweep) < time.Minute {
		return
	}
	t.lastSweep = now
	for k, b := range t.buckets {
		if b.level(now) >= float64(b.limit.N) && (b.failed.IsZero() || now.Sub(b.failed) >= t.acct.Per) {
			delete(t.buckets, k)
		}
	}
}
