package apikeys

import (
	"strconv"
	"time"

	"github.com/keyportal/keyportal/apiclient"
)

// Status is where a key stands in its life. Every key has exactly one, so
// counts by status add up to all keys.
type Status string

const (
	StatusActive   Status = "active"   // expires later than the warning window
	StatusExpiring Status = "expiring" // expires within the warning window
	StatusExpired  Status = "expired"  // no longer authenticates
	StatusNever    Status = "never"    // has no expiry
)

// Statuses are the statuses in the order the portal lists them.
var Statuses = []Status{StatusActive, StatusExpiring, StatusExpired, StatusNever}

// DefaultWarn is how close an expiry must be to count as expiring when
// nothing else is said: a week, as GitHub warns.
const DefaultWarn = 7 * 24 * time.Hour

// StatusOf is k's status at now, with expiries closer than warn counting
// as expiring.
func StatusOf(k apiclient.APIKey, now time.Time, warn time.Duration) Status {
	switch {
	case k.ExpiryDate == nil:
		return StatusNever
	case k.Expired(now):
		return StatusExpired
	case k.ExpiryDate.Sub(now) < warn:
		return StatusExpiring
	}
	return StatusActive
}

// Span writes a configured period in words: "5 minutes", "7 days",
// "36 hours".
func Span(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if d >= u.d && d%u.d == 0 {
			if n := int64(d / u.d); n != 1 {
				return strconv.FormatInt(n, 10) + " " + u.name + "s"
			}
			return "1 " + u.name
		}
	}
	return d.String()
}
