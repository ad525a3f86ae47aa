package apikeys

import (
	"context"
	"time"

	"github.com/keyportal/keyportal/apiclient"
)

// load reads the key a change is about, once the caller may change keys
// at all: a refusal costs balena nothing.
func (s *Service) load(ctx context.Context, c Caller, id int64) (apiclient.APIKey, error) {
	if err := MayChange(c); err != nil {
		return apiclient.APIKey{}, err
	}
	return s.Key(ctx, c, id)
}

// Edit is a change of a key's name, description and expiry (Expiry.Choice
// keep leaves the expiry alone).
type Edit struct {
	Name        string
	Description string
	Expiry      Expiry
}

// Updated is a key after an edit, or as it was when the edit failed.
type Updated struct {
	Key     apiclient.APIKey
	Changed bool // false when the edit changed nothing and balena was not asked
}

// Update applies an edit to key id. A named user key must keep a name, as
// in balena's own clients.
func (s *Service) Update(ctx context.Context, c Caller, id int64, e Edit) (Updated, error) {
	k, err := s.load(ctx, c, id)
	if err != nil {
		return Updated{}, err
	}
	errs := map[string]string{}
	checkText(e.Name, e.Description, needsName(k), errs)
	now := s.now()
	expiry, keep := e.Expiry.resolve(now, true, errs)
	if keep {
		// The expiry stays as it was: this change does not set it.
		s.policy.check(now, e.Expiry, s.policy.Latest(now), &e.Description, errs)
	} else {
		s.policy.check(now, e.Expiry, expiry, &e.Description, errs)
	}
	if err := Invalid(errs); err != nil {
		return Updated{Key: k}, err
	}
	var u apiclient.KeyUpdate
	var changes []Change
	after := k
	if e.Name != k.Name {
		u.Name, after.Name = &e.Name, e.Name
		changes = append(changes, changed("name", k.Name, e.Name))
	}
	if e.Description != k.Description {
		u.Description, after.Description = &e.Description, e.Description
		changes = append(changes, changed("description", k.Description, e.Description))
	}
	if !keep {
		u.ExpiryDate, u.ClearExpiry, after.ExpiryDate = expiry, expiry == nil, expiry
		changes = append(changes, changed("expiry", expiryValue(k.ExpiryDate), expiryValue(expiry)))
	}
	if len(changes) == 0 {
		return Updated{Key: k}, nil
	}
	err = s.write(ctx, c, &Event{Action: "update", Key: k, Changes: changes}, func(ctx context.Context) error {
		return c.API.UpdateKey(ctx, k.ID, u)
	}, holds(c, k, after))
	if err != nil {
		return Updated{Key: k}, err
	}
	return Updated{Key: after, Changed: true}, nil
}

// SetExpiry sets key id's expiry as chosen, or clears it (never).
func (s *Service) SetExpiry(ctx context.Context, c Caller, id int64, e Expiry) (apiclient.APIKey, error) {
	now := s.now()
	errs := map[string]string{}
	expiry, _ := e.resolve(now, false, errs)
	s.policy.check(now, e, expiry, nil, errs)
	if err := Invalid(errs); err != nil {
		return apiclient.APIKey{}, err
	}
	action := "set_expiry"
	if expiry == nil {
		action = "clear_expiry"
	}
	return s.changeExpiry(ctx, c, id, action, expiry)
}

// ExpireNow makes key id expire at this moment: balena refuses it from
// then on, and a later expiry revives it.
func (s *Service) ExpireNow(ctx context.Context, c Caller, id int64) (apiclient.APIKey, error) {
	now := s.now().UTC()
	return s.changeExpiry(ctx, c, id, "expire", &now)
}

func (s *Service) changeExpiry(ctx context.Context, c Caller, id int64, action string, expiry *time.Time) (apiclient.APIKey, error) {
	k, err := s.load(ctx, c, id)
	if err != nil {
		return k, err
	}
	e := Event{Action: action, Key: k, Changes: []Change{changed("expiry", expiryValue(k.ExpiryDate), expiryValue(expiry))}}
	after := k
	after.ExpiryDate = expiry
	err = s.write(ctx, c, &e, func(ctx context.Context) error {
		return c.API.UpdateKey(ctx, k.ID, apiclient.KeyUpdate{ExpiryDate: expiry, ClearExpiry: expiry == nil})
	}, holds(c, k, after))
	if err == nil {
		k = after
	}
	return k, err
}

// Revoke deletes key id: balena refuses it from that moment.
func (s *Service) Revoke(ctx context.Context, c Caller, id int64) (apiclient.APIKey, error) {
	k, err := s.load(ctx, c, id)
	if err != nil {
		return k, err
	}
	return k, s.write(ctx, c, &Event{Action: "revoke", Key: k}, func(ctx context.Context) error {
		return c.API.DeleteKey(ctx, k.ID)
	}, gone(c, k.ID))
}

// holds checks whether balena holds key before as after: done when it
// does, not done when it still holds it as before, and no telling when
// it holds something else (someone else changed it meanwhile) or it is
// gone.
func holds(c Caller, before, after apiclient.APIKey) check {
	return func(ctx context.Context) (bool, error) {
		now, err := c.API.GetKey(ctx, before.ID)
		switch {
		case err != nil:
			return false, err
		case same(now, after):
			return true, nil
		case same(now, before):
			return false, nil
		}
		return false, errCannotTell
	}
}

// same compares what a change can change, to balena's millisecond.
func same(a, b apiclient.APIKey) bool {
	switch {
	case a.Name != b.Name || a.Description != b.Description:
		return false
	case a.ExpiryDate == nil || b.ExpiryDate == nil:
		return a.ExpiryDate == b.ExpiryDate
	}
	return a.ExpiryDate.Truncate(time.Millisecond).Equal(b.ExpiryDate.Truncate(time.Millisecond))
}

// gone checks whether key id was deleted.
func gone(c Caller, id int64) check {
	return func(ctx context.Context) (bool, error) {
		_, err := c.API.GetKey(ctx, id)
		switch apiclient.ErrorCode(err) {
		case apiclient.CodeNotFound:
			return true, nil
		case "":
			return false, nil
		}
		return false, err
	}
}
