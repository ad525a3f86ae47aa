package apikeys

import (
	"context"
	"time"

	"github.com/keyportal/keyportal/apiclient"
)

// RotateRequest is how a person wants a key rotated: the replacement's
// expiry (ExpiryFresh gives it the old key's lifetime from now,
// ExpirySame keeps the old key's date) and how long the old key may
// keep working (a key of Graces, or GraceKeep).
type RotateRequest struct {
	Expiry Expiry
	Grace  string
	// Description is the replacement's, for an old key without one (when
	// the policy asks for one); a key with a description passes it on.
	Description string
}

// RotationPlan is a checked rotation.
type RotationPlan struct {
	Old         apiclient.APIKey
	Expiry      *time.Time     // the replacement's; nil: never
	Description string         // the replacement's
	Grace       *time.Duration // nil: the old key keeps working
}

// Rotation is what a rotation did: the replacement (made, with its
// secret), and what became of the old key.
type Rotation struct {
	Created
	OldUntil  *time.Time // when the old key stops working; nil when kept
	RetireErr error      // a *WriteError when the old key could not be set to expire
}

// PlanRotate loads key id and checks a rotation of it. The plan's Old is
// set whenever the key could be read, also when the request is invalid.
func (s *Service) PlanRotate(ctx context.Context, c Caller, id int64, r RotateRequest) (RotationPlan, error) {
	k, err := s.load(ctx, c, id)
	if err != nil {
		return RotationPlan{}, err
	}
	p := RotationPlan{Old: k, Description: k.Description}
	if p.Description == "" {
		p.Description = r.Description
	}
	errs := map[string]string{}
	checkText(k.Name, p.Description, false, errs)
	if wait, known := Graces[r.Grace]; known {
		p.Grace = &wait
	} else if r.Grace != GraceKeep {
		errs["grace"] = "Choose when the old key stops working."
	}
	switch {
	case r.Expiry.Choice == ExpirySame && k.ExpiryDate != nil:
		p.Expiry = k.ExpiryDate
	case r.Expiry.Choice == ExpiryFresh:
		p.Expiry = s.FreshExpiry(k)
	default:
		p.Expiry, _ = r.Expiry.resolve(s.now(), false, errs)
	}
	s.policy.check(s.now(), r.Expiry, p.Expiry, &p.Description, errs)
	return p, Invalid(errs)
}

// DefaultRotationLifetime is the new key's lifetime when the old key's is
// not known: 90 days, the longest preset short of a year.
const DefaultRotationLifetime = 90 * 24 * time.Hour

// Lifetime is how long k was given to live when it was made (expiry −
// created_at, to the day), and whether that can be known: not for a key
// that never expires, nor for one whose expiry came less than a day
// after its creation (most likely expired by hand, not made that way).
func Lifetime(k apiclient.APIKey) (time.Duration, bool) {
	if k.ExpiryDate == nil || k.CreatedAt.IsZero() {
		return 0, false
	}
	const day = 24 * time.Hour
	life := k.ExpiryDate.Sub(k.CreatedAt).Round(day)
	if life < day {
		return 0, false
	}
	return life, true
}

// FreshExpiry is the default expiry of k's replacement: as long from now
// as k was given at its creation, or DefaultRotationLifetime when that is
// not known, and no later than the policy allows.
func (s *Service) FreshExpiry(k apiclient.APIKey) *time.Time {
	life, ok := Lifetime(k)
	if !ok {
		life = DefaultRotationLifetime
	}
	t := s.now().Add(life).UTC().Truncate(time.Second)
	if latest := s.policy.Latest(s.now()); latest != nil && t.After(*latest) {
		return latest
	}
	return &t
}

// SameExpiryOffered reports whether a rotation of k may keep its expiry:
// only one still to come.
func (s *Service) SameExpiryOffered(k apiclient.APIKey) bool {
	return k.ExpiryDate != nil && k.ExpiryDate.After(s.now())
}

// Rotate makes the replacement (same kind, owner, name and description),
// then sets the old key to expire after the grace period. The replacement
// is returned even when retiring the old key fails: it exists, and its
// secret would otherwise be lost.
func (s *Service) Rotate(ctx context.Context, c Caller, p RotationPlan) (Rotation, error) {
	old := p.Old
	fresh := old
	fresh.ID, fresh.ExpiryDate, fresh.Description = 0, p.Expiry, p.Description
	var r Rotation
	e := Event{Action: "rotate_create", Key: old, Changes: []Change{made("expiry", expiryValue(p.Expiry))}}
	secret, err := s.makeKey(ctx, c, &e, fresh, func(id int64) { e.NewKey = id })
	if err != nil {
		return r, err
	}
	fresh.ID = e.NewKey
	r.Key, r.Secret = fresh, secret
	if p.Grace == nil {
		return r, nil
	}
	until := s.now().Add(*p.Grace).UTC()
	retired := old
	retired.ExpiryDate = &until
	r.RetireErr = s.write(ctx, c, &Event{Action: "rotate_expire_old", Key: old, Changes: []Change{changed("expiry", expiryValue(old.ExpiryDate), expiryValue(&until))}},
		func(ctx context.Context) error {
			return c.API.UpdateKey(ctx, old.ID, apiclient.KeyUpdate{ExpiryDate: &until})
		}, holds(c, old, retired))
	if r.RetireErr == nil {
		r.OldUntil = &until
	}
	return r, nil
}
