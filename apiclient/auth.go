package apiclient

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Login signs in with email (or username) and password and returns the
// session token. A token whose claims say TwoFactorRequired needs VerifyTOTP.
// Wrong credentials are CodeUnauthorized; too many tries CodeRateLimited.
func (c *Client) Login(ctx context.Context, username, password string) (string, error) {
	const op = "login"
	body, err := c.do(ctx, request{
		op: op, method: http.MethodPost, path: "/login_",
		body: map[string]string{"username": username, "password": password},
	})
	if err != nil {
		return "", err
	}
	return decodeToken(op, body)
}

// VerifyTOTP completes a two-factor login and returns the full token. A
// wrong code is CodeTwoFactor.
func (c *Client) VerifyTOTP(ctx context.Context, partialToken, code string) (string, error) {
	const op = "verify 2FA code"
	body, err := c.do(ctx, request{
		op: op, method: http.MethodPost, path: "/auth/totp/verify", token: partialToken,
		body: map[string]string{"code": code},
	})
	if err != nil {
		// balena does not tell a wrong code from a dead partial token; a
		// partial token that is still unexpired means the code was wrong.
		var e *Error
		if errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusBadRequest) {
			if cl, ok := ParseClaims(partialToken); ok && cl.TwoFactorRequired && !cl.Expired(time.Now()) {
				e.Code = CodeTwoFactor
			}
		}
		return "", err
	}
	return decodeToken(op, body)
}

// Ping checks that balena answers at all (for /readyz).
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.do(ctx, request{op: "ping", method: http.MethodGet, path: "/ping"})
	return err
}

// WhoAmI asks balena who the token belongs to (a user, or the fleet or
// device of an API key) and remembers the answer for this Session.
func (s *Session) WhoAmI(ctx context.Context) (Identity, error) {
	const op = "whoami"
	var w struct {
		ID          int64  `json:"id"`
		ActorType   string `json:"actorType"`
		ActorTypeID int64  `json:"actorTypeId"`
		Username    string `json:"username"`
		Email       string `json:"email"` // null stays ""
		Slug        string `json:"slug"`
		UUID        string `json:"uuid"`
	}
	if err := s.get(ctx, op, "/actor/v1/whoami", "", &w); err != nil {
		return Identity{}, err
	}
	if w.ID == 0 || w.ActorType == "" {
		return Identity{}, upstreamError(op, "whoami without an actor", nil)
	}
	id := Identity{
		ActorID: w.ID, ActorType: w.ActorType, ActorTypeID: w.ActorTypeID,
		Username: w.Username, Email: w.Email, Slug: w.Slug, UUID: w.UUID,
	}
	s.remember(id)
	return id, nil
}

// RefreshToken returns a new session token. With the password it also
// renews the sign-in time, which balena needs before it creates a user key
// (CodeFreshAuth); without it the old sign-in time is kept. A wrong
// password is CodeUnauthorized. API keys cannot be refreshed.
func (s *Session) RefreshToken(ctx context.Context, password string) (string, error) {
	const op = "refresh token"
	r := request{op: op, method: http.MethodGet, path: "/user/v1/refresh-token", token: s.token}
	if password != "" {
		r.method = http.MethodPost
		r.body = map[string]string{"password": password}
	}
	body, err := s.c.do(ctx, r)
	if err != nil {
		return "", err
	}
	return decodeToken(op, body)
}
