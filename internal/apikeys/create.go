package apikeys

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/keyportal/keyportal/apiclient"
)

var (
	fleetSlug = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	fleetName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`) // a fleet's name as balena allows it
)

// ValidFleetSlug reports whether s has the shape of a fleet slug (org/name).
func ValidFleetSlug(s string) bool { return fleetSlug.MatchString(s) }

// ValidFleetName reports whether s has the shape of a fleet's name (its
// slug without the organization).
func ValidFleetName(s string) bool { return fleetName.MatchString(s) }

// ValidDeviceText reports whether s can name devices: valid UTF-8 of up
// to 200 bytes, without control characters. Whether it names any is for
// balena to say.
func ValidDeviceText(s string) bool {
	return s != "" && utf8.ValidString(s) && len(s) <= maxDeviceText && !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}

// NewKeyRequest is a key a person asked for, as they typed it.
type NewKeyRequest struct {
	Kind        string
	Fleet       string // slug, for provisioning keys
	Device      string // name, uuid or uuid prefix, for device keys (see FindDevice)
	Name        string
	Description string
	Expiry      Expiry
}

// NewKeyPlan is a checked request: the key to make, its owner resolved.
type NewKeyPlan struct {
	Key apiclient.APIKey // kind, owner, name, description and expiry; no ID yet
}

// Created is a key just made and its secret, which nobody can read again.
type Created struct {
	Key    apiclient.APIKey // ID 0 when balena does not show the new key
	Secret string
}

// PlanCreate checks a request and finds the owner it names. Bad input is
// an *Error with a message per field.
func (s *Service) PlanCreate(ctx context.Context, c Caller, r NewKeyRequest) (NewKeyPlan, error) {
	errs := map[string]string{}
	var k apiclient.APIKey
	switch kind, _ := ParseKind(r.Kind); kind {
	case apiclient.KindUser:
		if c.APIKey {
			errs["kind"] = "A session signed in with an API key cannot create user keys; sign in with your password or a session token."
		}
		k.Kind, k.Owner.Username, k.Owner.ActorID = kind, c.Identity.Username, c.Identity.ActorID
	case apiclient.KindProvisioning:
		k.Kind = kind
		if r.Fleet == "" {
			errs["fleet"] = "Choose the fleet whose devices this key will register."
			break
		}
		fleets, err := c.API.Fleets(ctx)
		if err != nil {
			return NewKeyPlan{}, err
		}
		i := slices.IndexFunc(fleets, func(f apiclient.Fleet) bool { return f.Slug == r.Fleet })
		if i < 0 {
			errs["fleet"] = "You cannot reach a fleet " + Quote(r.Fleet) + "."
			break
		}
		k.Owner.FleetID, k.Owner.FleetSlug, k.Owner.ActorID = fleets[i].ID, fleets[i].Slug, fleets[i].ActorID
	case apiclient.KindDevice:
		k.Kind = kind
		d, problem, err := FindDevice(ctx, c.API, r.Device)
		if err != nil {
			return NewKeyPlan{}, err
		}
		if problem != "" {
			errs["device"] = problem
			break
		}
		k.Owner.DeviceID, k.Owner.DeviceUUID, k.Owner.DeviceName, k.Owner.ActorID = d.ID, d.UUID, d.DeviceName, d.ActorID
	default:
		errs["kind"] = "Choose the kind of key."
	}
	checkText(r.Name, r.Description, k.Kind == apiclient.KindUser, errs)
	k.Name, k.Description = r.Name, r.Description
	now := s.now()
	k.ExpiryDate, _ = r.Expiry.resolve(now, false, errs)
	s.policy.check(now, r.Expiry, k.ExpiryDate, &r.Description, errs)
	return NewKeyPlan{Key: k}, Invalid(errs)
}

// Create makes the planned key and records it.
func (s *Service) Create(ctx context.Context, c Caller, p NewKeyPlan) (Created, error) {
	k := p.Key
	e := Event{Action: "create", Key: k, Changes: []Change{
		made("name", k.Name), made("description", k.Description), made("expiry", expiryValue(k.ExpiryDate)),
	}}
	secret, err := s.makeKey(ctx, c, &e, k, func(id int64) { e.Key.ID = id })
	k.ID = e.Key.ID
	return Created{Key: k, Secret: secret}, err
}

// errHidden: balena does not show this caller the new key's owner's keys.
var errHidden = errors.New("balena does not show you the keys of this owner")

// makeKey makes a key like k (its kind, owner, name, description and
// expiry), finds its id (setID), and records e. balena answers with the
// secret alone, so the new key is found as the newest of its owner with
// its name; that one's id before the creation tells a key this creation
// made from an older one when balena's answer is lost. A key that was
// made although its answer was lost comes back as *SecretLost.
//
// Where balena hides the new key (open-balena hides other actors' keys
// from users) its id stays 0; two keys of one name made for one owner at
// the same moment could swap ids in the trail.
func (s *Service) makeKey(ctx context.Context, c Caller, e *Event, k apiclient.APIKey, setID func(int64)) (string, error) {
	before, beforeErr := c.API.NewestKeyID(ctx, k.Owner.ActorID, k.Name)
	var secret string
	lostButMade := false
	err := s.write(ctx, c, e, func(ctx context.Context) (err error) {
		if secret, err = sendCreate(ctx, c, k); err != nil {
			return err
		}
		id, _ := c.API.NewestKeyID(ctx, k.Owner.ActorID, k.Name)
		setID(id)
		return nil
	}, func(ctx context.Context) (bool, error) {
		if beforeErr != nil {
			return false, beforeErr
		}
		id, err := c.API.NewestKeyID(ctx, k.Owner.ActorID, k.Name)
		switch {
		case err != nil:
			return false, err
		case id > before:
			setID(id)
			lostButMade = true
			return true, nil
		case id == 0 && k.Kind != apiclient.KindUser && c.API.ActorHidden():
			return false, errHidden
		}
		return false, nil
	})
	if err == nil && lostButMade {
		k.ID = e.Key.ID
		if e.NewKey != 0 {
			k.ID = e.NewKey
		}
		return "", &SecretLost{Action: e.Action, Key: k}
	}
	return secret, err
}

// sendCreate asks balena for a key like k and returns its secret.
func sendCreate(ctx context.Context, c Caller, k apiclient.APIKey) (string, error) {
	nk := apiclient.NewKey{Name: k.Name, Description: k.Description, ExpiryDate: k.ExpiryDate}
	switch k.Kind {
	case apiclient.KindUser:
		return c.API.CreateUserKey(ctx, nk)
	case apiclient.KindProvisioning:
		return c.API.CreateProvisioningKey(ctx, k.Owner.FleetID, nk)
	case apiclient.KindDevice:
		return c.API.CreateDeviceKey(ctx, k.Owner.DeviceID, nk)
	}
	return "", &Error{Code: apiclient.CodeInvalid, Message: "Keyportal cannot tell what this key belongs to, so it cannot make a key like it."}
}

// Quote puts a value a person typed in quotes for a message, cut short.
func Quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return "“" + s + "”"
}
