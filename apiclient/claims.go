package apiclient

import (
	"encoding/base64"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"
)

// ParseClaims reads a session JWT's claims without verifying it. ok is false
// for anything that is not a JWT (an API key). The result is for display
// and timing only: balena checks the signature, the portal never does.
func ParseClaims(token string) (c Claims, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, false
	}
	var raw struct {
		ID                *int64   `json:"id"`
		Exp               *float64 `json:"exp"`      // seconds
		Iat               *float64 `json:"iat"`      // seconds
		AuthTime          *float64 `json:"authTime"` // milliseconds
		TwoFactorRequired bool     `json:"twoFactorRequired"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return Claims{}, false
	}
	// A time no clock can show (1e300 seconds overflows time.Time into
	// the year -292275055) makes the claims unreadable, not a date.
	if !plausible(raw.Exp, 1) || !plausible(raw.Iat, 1) || !plausible(raw.AuthTime, 1000) {
		return Claims{}, false
	}
	if raw.ID != nil {
		c.UserID = *raw.ID
	}
	if raw.Exp != nil {
		c.Expires = time.UnixMilli(int64(*raw.Exp * 1000))
	}
	if raw.Iat != nil {
		c.IssuedAt = time.UnixMilli(int64(*raw.Iat * 1000))
	}
	if raw.AuthTime != nil {
		c.AuthTime = time.UnixMilli(int64(*raw.AuthTime))
	}
	c.TwoFactorRequired = raw.TwoFactorRequired
	return c, true
}

// maxUnix is the last second of the year 9999.
const maxUnix = 253402300799

// plausible reports whether a claim counted in 1/perSecond seconds since
// 1970 is absent or a time between 1970 and the year 9999.
func plausible(v *float64, perSecond float64) bool {
	return v == nil || (*v >= 0 && *v <= maxUnix*perSecond) // false for NaN too
}

// Expired reports whether the token's exp has passed at time now. A token
// without exp never expires by its claims.
func (c Claims) Expired(now time.Time) bool {
	return !c.Expires.IsZero() && !now.Before(c.Expires)
}
