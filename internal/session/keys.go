package session

import (
	"crypto/hkdf"
	"crypto/sha256"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/keyportal/keyportal/internal/config"
)

// cookieKeyPairs turns each session secret into the hash and block key pair
// gorilla/securecookie wants, so that operators manage one secret per key
// and cookies are both authenticated (HMAC-SHA256) and encrypted (AES-256).
func cookieKeyPairs(secrets [][]byte) ([][]byte, error) {
	var pairs [][]byte
	for _, s := range secrets {
		hash, err := hkdf.Key(sha256.New, s, nil, "keyportal session hash", 64)
		if err != nil {
			return nil, err
		}
		block, err := hkdf.Key(sha256.New, s, nil, "keyportal session block", 32)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, hash, block)
	}
	return pairs, nil
}

// Signer signs short values that ride in cookies of their own, such as a
// message that must survive a redirect, so that nobody else can plant
// them. Its key is derived from the newest session secret and its purpose:
// a value signed for one purpose means nothing to another, and older
// secrets are not tried, as such values live for seconds.
type Signer struct{ codec *securecookie.SecureCookie }

// NewSigner signs for purpose, and refuses values older than maxAge. In
// demo mode, without a session secret, the key is random.
func NewSigner(cfg config.Config, purpose string, maxAge time.Duration) *Signer {
	key := securecookie.GenerateRandomKey(32)
	if len(cfg.SessionKeys) > 0 {
		key, _ = hkdf.Key(sha256.New, cfg.SessionKeys[0], nil, "keyportal "+purpose, 32)
	}
	return &Signer{securecookie.New(key, nil).MaxAge(int(maxAge.Seconds()))}
}

// Encode signs value for the cookie called name.
func (s *Signer) Encode(name, value string) (string, error) { return s.codec.Encode(name, value) }

// Decode returns the value of a cookie called name that Encode signed and
// that is not older than maxAge.
func (s *Signer) Decode(name, encoded string) (string, error) {
	var v string
	err := s.codec.Decode(name, encoded, &v)
	return v, err
}
