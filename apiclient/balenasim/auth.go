package balenasim

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

type callerKind uint8

const (
	callerAnonymous callerKind = iota
	callerSession              // a full user JWT
	callerUserKey              // a named (or legacy) user API key
	callerFleetKey             // a provisioning key
	callerDeviceKey            // a device key
)

// caller is who a request acts as. A partial (2FA pending) JWT or an
// expired, unknown or revoked key makes an anonymous caller: balena
// swallows the lookup failure and carries on as a guest.
type caller struct {
	kind    callerKind
	user    *user
	app     *application
	dev     *device
	actor   int64
	claims  claims
	partial *user // set for a JWT still waiting for its TOTP code
	grants  *grants
}

func (c *caller) isUser() bool { return c.kind == callerSession || c.kind == callerUserKey }

// claims are the session JWT's payload, as open-balena writes it (minus
// jwt_secret).
type claims struct {
	ID                int64  `json:"id"`
	Username          string `json:"username"`
	Email             string `json:"email"`
	AuthTime          int64  `json:"authTime"` // ms: when the password was last entered
	IAT               int64  `json:"iat"`
	EXP               int64  `json:"exp"`
	TwoFactorRequired *bool  `json:"twoFactorRequired,omitempty"`
}

var b64 = base64.RawURLEncoding

func (s *Sim) signJWT(c claims) string {
	head := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	body, _ := json.Marshal(c)
	msg := head + "." + b64.EncodeToString(body)
	mac := hmac.New(sha256.New, s.jwtKey)
	mac.Write([]byte(msg))
	return msg + "." + b64.EncodeToString(mac.Sum(nil))
}

// looksLikeJWT is balena's test: a token that decodes as a JWT is a JWT,
// anything else is tried as an API key.
func looksLikeJWT(tok string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	head, err := b64.DecodeString(parts[0])
	if err != nil {
		return false
	}
	var h map[string]any
	return json.Unmarshal(head, &h) == nil
}

func (s *Sim) verifyJWT(tok string) (claims, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return claims{}, false
	}
	mac := hmac.New(sha256.New, s.jwtKey)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return claims{}, false
	}
	body, err := b64.DecodeString(parts[1])
	if err != nil {
		return claims{}, false
	}
	var c claims
	if json.Unmarshal(body, &c) != nil {
		return claims{}, false
	}
	return c, s.now().Unix() < c.EXP
}

func (s *Sim) newClaims(u *user, authTime time.Time, twoFactor *bool) claims {
	now := s.now()
	return claims{
		ID: u.id, Username: u.username, Email: u.email,
		AuthTime: authTime.UnixMilli(), IAT: now.Unix(), EXP: now.Add(s.opts.TokenLifetime).Unix(),
		TwoFactorRequired: twoFactor,
	}
}

// bearer finds the credentials of a request: the Authorization header, or
// an apikey query parameter.
func bearer(r *http.Request, params map[string]string) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if k, ok := params["apikey"]; ok {
		return k
	}
	return r.URL.Query().Get("apikey")
}

// authenticate resolves a token to a caller; st must be locked.
func (s *Sim) authenticate(st *store, tok string) *caller {
	c := &caller{}
	if tok == "" {
		return c
	}
	now := s.now()
	if looksLikeJWT(tok) {
		cl, ok := s.verifyJWT(tok)
		if !ok {
			return c
		}
		u, ok := rowOf(st.users, cl.ID)
		if !ok {
			return c
		}
		if cl.TwoFactorRequired != nil && *cl.TwoFactorRequired {
			c.partial, c.claims = u, cl
			return c
		}
		c.kind, c.user, c.actor, c.claims = callerSession, u, u.actor, cl
		c.grants = st.grantsFor(u.id, s.profile == ProfileOpenBalena)
		return c
	}
	k, ok := st.keyBySecret[tok]
	if !ok || !k.validAt(now.UnixMilli()) {
		return c
	}
	a, ok := st.actor(k.actor)
	if !ok {
		return c
	}
	c.actor = k.actor
	switch a.kind {
	case actorUser:
		c.kind, c.user = callerUserKey, &st.users[a.id-1]
		c.grants = st.grantsFor(a.id, s.profile == ProfileOpenBalena)
	case actorApp:
		c.kind, c.app = callerFleetKey, &st.apps[a.id-1]
	case actorDevice:
		c.kind, c.dev = callerDeviceKey, &st.devices[a.id-1]
	}
	return c
}

// TOTPCode is the RFC 6238 code (SHA-1, 6 digits, 30-second steps) of a
// base32 secret at time t, as authenticator apps show it.
func TOTPCode(secret string, t time.Time) string {
	key, err := decodeTOTPSecret(secret)
	if err != nil {
		return ""
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(t.Unix()/30))
	mac := hmac.New(sha1.New, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	code := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", code%1_000_000)
}

func decodeTOTPSecret(secret string) ([]byte, error) {
	s := strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(secret))
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, errors.New("empty TOTP secret")
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

// totpValid accepts the current code and its neighbours, for clock skew.
func totpValid(secret, code string, now time.Time) bool {
	for _, step := range []time.Duration{0, -30 * time.Second, 30 * time.Second} {
		want := TOTPCode(secret, now.Add(step))
		if want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return true
		}
	}
	return false
}

// throttle limits failed logins per client address and username, like
// open-balena's login rate limiter (10 tries in 2 hours, then blocked for
// an hour by default). A successful login clears the count, so that test
// suites that sign in often are not locked out.
type throttle struct {
	mu      sync.Mutex
	max     int
	window  time.Duration
	block   time.Duration
	entries map[string]*throttleEntry
}

type throttleEntry struct {
	fails        []time.Time
	blockedUntil time.Time
}

// check reports how long the key is still blocked (0: not blocked).
func (t *throttle) check(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[key]; e != nil && now.Before(e.blockedUntil) {
		return e.blockedUntil.Sub(now)
	}
	return 0
}

func (t *throttle) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil {
		e = &throttleEntry{}
		t.entries[key] = e
	}
	kept := e.fails[:0]
	for _, f := range e.fails {
		if now.Sub(f) < t.window {
			kept = append(kept, f)
		}
	}
	e.fails = append(kept, now)
	if len(e.fails) >= t.max {
		e.blockedUntil = now.Add(t.block)
		e.fails = e.fails[:0]
	}
}

func (t *throttle) succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}
