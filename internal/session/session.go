package session

import (
	"encoding/gob"
	"time"

	"github.com/keyportal/keyportal/apiclient"
)

const (
	// touchEvery bounds how often a request rewrites its session to record
	// activity for the idle timeout: once a minute is precise enough for
	// timeouts of an hour or more; shorter ones are kept to a sixtieth of
	// the timeout (see touchInterval). It is also the wait before retrying
	// a failed token refresh.
	touchEvery = time.Minute
	// refreshAfter is the age at which a session token is exchanged for a
	// new one, as balena's own SDK does.
	refreshAfter = 24 * time.Hour
)

// User is what the server keeps for a browser. It lives in the session
// store, never in the cookie, which carries only an opaque id.
type User struct {
	Token       string // the balena session token or API key
	APIKey      bool   // Token is an API key, not a session JWT
	Identity    apiclient.Identity
	SignedInAt  time.Time
	LastSeen    time.Time
	Expires     time.Time // the token's own expiry; zero for API keys
	TokenIssued time.Time // the session token's iat, for its refresh

	// What the credentials let the portal do, decided at sign-in: an API key
	// cannot create user keys, nor change or revoke keys (open-balena and
	// the stand-in refuse its PATCH and DELETE).
	CanCreateUserKeys bool
	CanChangeKeys     bool

	// A sign-in waiting for its two-factor code.
	PartialToken string
	PartialEmail string
	// Next is where a sign-in goes when it is done: the page that sent the
	// browser to sign in, such as a shared link to a filtered view.
	Next string

	// The last refresh that failed for a passing reason (balena slow or
	// down): the next try waits a minute.
	RefreshFailed time.Time
}

// gob writes this name into every stored session. It is the name the type
// had before it moved into this package, so that sessions stored by an
// earlier version still load after an upgrade.
func init() { gob.RegisterName("*handlers.userSession", &User{}) }

// SignedIn reports whether the session holds a usable token.
func (u *User) SignedIn() bool { return u != nil && u.Token != "" }

// SetToken stores a session token and what its claims say about its life.
// Use it for every new token (sign-in, refresh, password confirmation).
func (u *User) SetToken(token string, now time.Time) {
	u.Token, u.APIKey = token, false
	u.Expires, u.TokenIssued = time.Time{}, now
	if claims, ok := apiclient.ParseClaims(token); ok {
		u.Expires = claims.Expires
		if !claims.IssuedAt.IsZero() {
			u.TokenIssued = claims.IssuedAt
		}
	} else {
		u.APIKey = true
	}
	u.CanCreateUserKeys, u.CanChangeKeys = !u.APIKey, !u.APIKey
}

// Touch records that the session is in use, at most once every
// touchInterval(idle), and reports whether it changed and must be saved.
// LastSeen thus lags the last request by less than a sixtieth of the idle
// timeout, so a person who used the portal within the timeout is not
// signed out for idleness. The sweeper counts on it too: a session in use
// is rewritten at least that often.
func (u *User) Touch(now time.Time, idle time.Duration) bool {
	if now.Sub(u.LastSeen) <= touchInterval(idle) {
		return false
	}
	u.LastSeen = now
	return true
}

// touchInterval is how stale LastSeen may grow for an idle timeout of idle
// (zero: none): a sixtieth of it, at most touchEvery.
func touchInterval(idle time.Duration) time.Duration {
	if idle > 0 && idle/60 < touchEvery {
		return idle / 60
	}
	return touchEvery
}

// RefreshDue reports whether the session token should be exchanged for a
// new one: once it is a day old, or half-way through its life when balena
// issues shorter-lived tokens (open-balena can).
func (u *User) RefreshDue(now time.Time) bool {
	if u.APIKey || u.TokenIssued.IsZero() || now.Sub(u.RefreshFailed) < touchEvery {
		return false
	}
	after := refreshAfter
	if life := u.Expires.Sub(u.TokenIssued); life > 0 && life/2 < after {
		after = life / 2
	}
	return now.Sub(u.TokenIssued) >= after
}
