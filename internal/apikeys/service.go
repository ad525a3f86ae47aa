package apikeys

import (
	"context"
	"math"
	"time"

	"github.com/keyportal/keyportal/apiclient"
)

// Balena is what the rules need of balena as one caller: an
// *apiclient.Session, or a wrapper of one that caches its fleets.
type Balena interface {
	WhoAmI(ctx context.Context) (apiclient.Identity, error)
	ListKeys(ctx context.Context, q apiclient.KeyQuery) (apiclient.KeyPage, error)
	GetKey(ctx context.Context, id int64) (apiclient.APIKey, error)
	KeysByID(ctx context.Context, ids []int64) ([]apiclient.APIKey, error)
	KeyExpiries(ctx context.Context, ids []int64) (map[int64]*time.Time, error)
	UpdateKey(ctx context.Context, id int64, u apiclient.KeyUpdate) error
	UpdateKeys(ctx context.Context, ids []int64, u apiclient.KeyUpdate) error
	DeleteKey(ctx context.Context, id int64) error
	DeleteKeys(ctx context.Context, ids []int64) error
	CreateUserKey(ctx context.Context, k apiclient.NewKey) (secret string, err error)
	CreateProvisioningKey(ctx context.Context, fleetID int64, k apiclient.NewKey) (secret string, err error)
	CreateDeviceKey(ctx context.Context, deviceID int64, k apiclient.NewKey) (secret string, err error)
	NewestKeyID(ctx context.Context, actorID int64, name string) (int64, error)
	ActorHidden() bool
	Fleets(ctx context.Context) ([]apiclient.Fleet, error)
	DevicesNamed(ctx context.Context, text string, top int) ([]apiclient.Device, error)
}

// Caller is whoever asks for a change: their view of balena, who they
// are, and what their sign-in lets them do.
type Caller struct {
	API      Balena
	Identity apiclient.Identity
	// APIKey is set for a sign-in with an API key: balena lets it read
	// keys but neither create user keys nor change or revoke any.
	APIKey bool
	// Ref ties the caller's audit events to the rest of their request's
	// logs (a request id); it may be empty.
	Ref string
}

// Service applies the rules of keys. It is safe for concurrent use.
type Service struct {
	now    func() time.Time
	trail  Recorder
	policy Policy
}

// New returns a Service on the clock now (time.Now when nil) that records
// every change to trail.
func New(now func() time.Time, trail Recorder) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{now: now, trail: trail}
}

// WithPolicy is a copy of s that applies p to every key it makes or
// changes.
func (s *Service) WithPolicy(p Policy) *Service {
	c := *s
	c.policy = p
	return &c
}

// Policy is the policy s applies.
func (s *Service) Policy() Policy { return s.policy }

// Now is the Service's clock.
func (s *Service) Now() time.Time { return s.now() }

// Key reads one key the caller can see.
func (s *Service) Key(ctx context.Context, c Caller, id int64) (apiclient.APIKey, error) {
	// balena's ids are PostgreSQL integers: a larger one names no key, and
	// asking would only get balena's error for a number it cannot store.
	if id <= 0 || id > math.MaxInt32 {
		return apiclient.APIKey{}, &Error{Code: apiclient.CodeNotFound}
	}
	return c.API.GetKey(ctx, id)
}

// MayChange refuses a change that balena would refuse this caller anyway,
// before asking balena.
func MayChange(c Caller) error {
	if c.APIKey {
		return &Error{Code: apiclient.CodeForbidden, Message: "You signed in with an API key, and balena does not let API keys change or revoke keys. Sign in with your password or a session token to do that."}
	}
	return nil
}

// refused explains a failed write. balena answers 401 both for a dead
// token and for a change the token may not make; only the first ends the
// session, so a second question tells them apart.
func refused(ctx context.Context, c Caller, err error) error {
	if apiclient.ErrorCode(err) != apiclient.CodeUnauthorized {
		return err
	}
	if _, werr := c.API.WhoAmI(ctx); werr != nil {
		return err
	}
	msg := "balena did not allow this change."
	if c.APIKey {
		msg += " Sessions signed in with an API key may not change keys on this balena server; sign in with your password."
	}
	return &Error{Code: apiclient.CodeForbidden, Message: msg}
}
