package apiclient

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Options configure a Client. BaseURL is required.
type Options struct {
	BaseURL    string        // e.g. https://api.balena-cloud.com
	Timeout    time.Duration // per call, retries included; default 10s
	UserAgent  string        // default "keyportal/<version>"
	HTTPClient *http.Client  // default: a tuned, reused client
}

// Client is safe for concurrent use and meant to be shared.
type Client struct{ opts Options }

// New validates opts and returns a Client.
func New(opts Options) (*Client, error) { return &Client{opts: opts}, nil }

var errTODO = errors.New("apiclient: not implemented yet")

// Login signs in with email (or username) and password and returns the
// session token. A token whose claims say TwoFactorRequired needs VerifyTOTP.
func (c *Client) Login(ctx context.Context, username, password string) (string, error) {
	return "", errTODO
}

// VerifyTOTP completes a two-factor login and returns the full token.
func (c *Client) VerifyTOTP(ctx context.Context, partialToken, code string) (string, error) {
	return "", errTODO
}

// Ping checks that balena answers at all (for /readyz).
func (c *Client) Ping(ctx context.Context) error { return errTODO }

// As returns a Session that calls balena with token.
func (c *Client) As(token string) *Session { return &Session{c: c, token: token} }

// Session is a Client bound to one caller's token.
type Session struct {
	c     *Client
	token string
}

// ParseClaims reads a session JWT's claims without verifying it. ok is false
// for anything that is not a JWT (an API key).
func ParseClaims(token string) (c Claims, ok bool) { return Claims{}, false }

func (s *Session) WhoAmI(ctx context.Context) (Identity, error) { return Identity{}, errTODO }
func (s *Session) ListKeys(ctx context.Context, q KeyQuery) (KeyPage, error) {
	return KeyPage{}, errTODO
}
func (s *Session) GetKey(ctx context.Context, id int64) (APIKey, error)       { return APIKey{}, errTODO }
func (s *Session) UpdateKey(ctx context.Context, id int64, u KeyUpdate) error { return errTODO }
func (s *Session) DeleteKey(ctx context.Context, id int64) error              { return errTODO }
func (s *Session) CreateUserKey(ctx context.Context, k NewKey) (string, error) {
	return "", errTODO
}
func (s *Session) CreateProvisioningKey(ctx context.Context, fleetID int64, k NewKey) (string, error) {
	return "", errTODO
}
func (s *Session) CreateDeviceKey(ctx context.Context, deviceID int64, k NewKey) (string, error) {
	return "", errTODO
}
func (s *Session) Fleets(ctx context.Context) ([]Fleet, error) { return nil, errTODO }
func (s *Session) DevicesByUUID(ctx context.Context, uuids ...string) ([]Device, error) {
	return nil, errTODO
}
func (s *Session) DevicesByFleet(ctx context.Context, fleetID int64) ([]Device, error) {
	return nil, errTODO
}
func (s *Session) DevicesByActor(ctx context.Context, actorIDs ...int64) ([]Device, error) {
	return nil, errTODO
}
func (s *Session) RefreshToken(ctx context.Context, password string) (string, error) {
	return "", errTODO
}
