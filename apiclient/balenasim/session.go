package balenasim

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// loginBody reads {"username","password"} (JSON, or a form as browsers
// post it).
func loginBody(r *http.Request) (username, password string, err error) {
	body, err := readBody(r)
	if err != nil {
		return "", "", err
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		v, _ := url.ParseQuery(string(body))
		return v.Get("username"), v.Get("password"), nil
	}
	var in struct {
		Username any `json:"username"`
		Password any `json:"password"`
	}
	_ = json.Unmarshal(body, &in)
	u, _ := in.Username.(string)
	p, _ := in.Password.(string)
	return u, p, nil
}

func passwordMatches(u *user, password string) bool {
	return subtle.ConstantTimeCompare([]byte(u.password), []byte(password)) == 1
}

// login is POST /login_: 200 text/plain JWT, 401 empty on bad credentials,
// 429 once the throttle trips. A user with 2FA gets a partial JWT.
func (s *Sim) login(w http.ResponseWriter, r *http.Request) {
	username, password, err := loginBody(r)
	if errors.Is(err, errTooLarge) {
		writeEmpty(w, http.StatusRequestEntityTooLarge)
		return
	}
	now := s.now()
	key := clientIP(r) + "|" + strings.ToLower(username)
	if wait := s.throttle.check(key, now); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int((wait+time.Second-1)/time.Second)))
		writeJSONString(w, http.StatusTooManyRequests, "Too Many Requests")
		return
	}
	s.mu.RLock()
	u, ok := s.st.userByEmailOrName(username)
	s.mu.RUnlock()
	if !ok || username == "" || !passwordMatches(u, password) {
		s.throttle.fail(key, now)
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	s.throttle.succeed(key)
	var twoFactor *bool
	if u.totpSecret != "" {
		pending := true
		twoFactor = &pending
	}
	writeText(w, http.StatusOK, s.signJWT(s.newClaims(u, now, twoFactor)))
}

// totpVerify is POST /auth/totp/verify {"code"} with the partial JWT: it
// answers the full JWT as text.
func (s *Sim) totpVerify(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if errors.Is(err, errTooLarge) {
		writeEmpty(w, http.StatusRequestEntityTooLarge)
		return
	}
	var in struct {
		Code any `json:"code"`
	}
	if json.Unmarshal(body, &in) != nil {
		writeEmpty(w, http.StatusBadRequest)
		return
	}
	code, _ := in.Code.(string)
	s.mu.RLock()
	c := s.authenticate(s.st, bearer(r, nil))
	s.mu.RUnlock()
	u := c.partial
	if u == nil && c.kind == callerSession {
		u = c.user
	}
	if u == nil || u.totpSecret == "" || !totpValid(u.totpSecret, strings.TrimSpace(code), s.now()) {
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	// The full token is as fresh as the password step was.
	passed := false
	cl := s.newClaims(u, s.now(), &passed)
	cl.AuthTime = c.claims.AuthTime
	writeText(w, http.StatusOK, s.signJWT(cl))
}

func (s *Sim) callerOf(r *http.Request) *caller {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.authenticate(s.st, bearer(r, nil))
}

// actorWhoami is GET /actor/v1/whoami, for sessions and every kind of key.
func (s *Sim) actorWhoami(w http.ResponseWriter, r *http.Request) {
	c := s.callerOf(r)
	// Field order follows open-balena's answers.
	type whoami struct {
		ID          int64  `json:"id"`
		ActorType   string `json:"actorType"`
		ActorTypeID int64  `json:"actorTypeId"`
		Username    string `json:"username,omitempty"`
		Email       string `json:"email,omitempty"`
		Slug        string `json:"slug,omitempty"`
		UUID        string `json:"uuid,omitempty"`
	}
	switch c.kind {
	case callerSession, callerUserKey:
		writeJSON(w, http.StatusOK, whoami{ID: c.actor, ActorType: "user", ActorTypeID: c.user.id, Username: c.user.username, Email: c.user.email})
	case callerFleetKey:
		writeJSON(w, http.StatusOK, whoami{ID: c.actor, ActorType: "application", ActorTypeID: c.app.id, Slug: c.app.slug})
	case callerDeviceKey:
		writeJSON(w, http.StatusOK, whoami{ID: c.actor, ActorType: "device", ActorTypeID: c.dev.id, UUID: c.dev.uuid})
	default:
		writeEmpty(w, http.StatusUnauthorized)
	}
}

// userWhoami is GET /user/v1/whoami: users only, fleet and device keys 401.
func (s *Sim) userWhoami(w http.ResponseWriter, r *http.Request) {
	c := s.callerOf(r)
	if !c.isUser() {
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
		Email    string `json:"email"`
	}{c.user.id, c.user.username, c.user.email})
}

// refreshToken is GET|POST /user/v1/refresh-token. It keeps authTime unless
// the body carries the right password, which makes the new token fresh.
func (s *Sim) refreshToken(w http.ResponseWriter, r *http.Request) {
	c := s.callerOf(r)
	if c.kind != callerSession {
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	authTime := time.UnixMilli(c.claims.AuthTime)
	if r.Method == http.MethodPost {
		body, err := readBody(r)
		if errors.Is(err, errTooLarge) {
			writeEmpty(w, http.StatusRequestEntityTooLarge)
			return
		}
		var in struct {
			Password *string `json:"password"`
		}
		_ = json.Unmarshal(body, &in)
		if in.Password != nil {
			if !passwordMatches(c.user, *in.Password) {
				writeEmpty(w, http.StatusUnauthorized)
				return
			}
			authTime = s.now()
		}
	}
	writeText(w, http.StatusOK, s.signJWT(s.newClaims(c.user, authTime, c.claims.TwoFactorRequired)))
}

// IssueToken returns a valid session JWT for a user (by email or username)
// whose password was entered at authTime; tests use it for stale sign-ins.
func (s *Sim) IssueToken(email string, authTime time.Time) (string, error) {
	s.mu.RLock()
	u, ok := s.st.userByEmailOrName(email)
	s.mu.RUnlock()
	if !ok {
		return "", fmt.Errorf("balenasim: no user %q", email)
	}
	var twoFactor *bool
	if u.totpSecret != "" {
		passed := false
		twoFactor = &passed
	}
	return s.signJWT(s.newClaims(u, authTime, twoFactor)), nil
}

// TOTPSecret returns the base32 TOTP secret of a user, "" when 2FA is off.
func (s *Sim) TOTPSecret(email string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if u, ok := s.st.userByEmailOrName(email); ok {
		return u.totpSecret
	}
	return ""
}
