package balenasim

import (
	"fmt"
	"time"
)

// KeyKind says what a key belongs to: a user, a fleet (provisioning key) or
// a device.
type KeyKind string

const (
	KindUser         KeyKind = "user"
	KindProvisioning KeyKind = "provisioning"
	KindDevice       KeyKind = "device"
)

// KeyRecord is a read-only copy of an api_key row with its owner resolved,
// for tests to compute expectations. Secret is the key itself.
type KeyRecord struct {
	ID          int64
	Secret      string
	Name        *string
	Description *string
	CreatedAt   time.Time
	ExpiryDate  *time.Time // nil: never expires
	ActorID     int64
	Role        string // e.g. "named-user-api-key", "user-api-key"
	Kind        KeyKind

	UserID        int64 // user keys
	OwnerEmail    string
	OwnerUsername string
	FleetID       int64 // provisioning keys, and the fleet of a device key
	FleetSlug     string
	DeviceID      int64 // device keys
	DeviceUUID    string
	DeviceName    string
	// The device's connectivity: is_online, and last_connectivity_event
	// (nil: never seen).
	DeviceOnline   bool
	DeviceLastSeen *time.Time
}

// Expired reports whether the key no longer authenticates at now.
func (k KeyRecord) Expired(now time.Time) bool {
	return k.ExpiryDate != nil && !k.ExpiryDate.After(now)
}

// Keys returns every api_key row, ordered by id.
func (s *Sim) Keys() []KeyRecord {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]KeyRecord, 0, len(s.st.keys))
	for _, k := range s.st.keys {
		out = append(out, s.st.record(k))
	}
	return out
}

func (st *store) record(k *apiKey) KeyRecord {
	r := KeyRecord{
		ID: k.id, Secret: k.key, CreatedAt: time.UnixMilli(k.created).UTC(),
		ActorID: k.actor, Role: k.role,
	}
	if k.hasName {
		n := k.name
		r.Name = &n
	}
	if k.hasDesc {
		d := k.desc
		r.Description = &d
	}
	if k.hasExpiry {
		e := time.UnixMilli(k.expiry).UTC()
		r.ExpiryDate = &e
	}
	a, _ := st.actor(k.actor)
	switch a.kind {
	case actorUser:
		u := st.users[a.id-1]
		r.Kind, r.UserID, r.OwnerEmail, r.OwnerUsername = KindUser, u.id, u.email, u.username
	case actorApp:
		app := st.apps[a.id-1]
		r.Kind, r.FleetID, r.FleetSlug = KindProvisioning, app.id, app.slug
	case actorDevice:
		d := st.devices[a.id-1]
		app := st.apps[d.app-1]
		r.Kind, r.DeviceID, r.DeviceUUID, r.DeviceName = KindDevice, d.id, d.uuid, d.name
		r.FleetID, r.FleetSlug = app.id, app.slug
		r.DeviceOnline = d.online
		if d.seen {
			t := time.UnixMilli(d.lastSeen).UTC()
			r.DeviceLastSeen = &t
		}
	}
	return r
}

// NewKey describes a key to seed with CreateKey.
type NewKey struct {
	Kind KeyKind
	// Owner is a user's email or username, a fleet's slug, or a device's
	// uuid, according to Kind.
	Owner       string
	Name        *string
	Description *string
	ExpiryDate  *time.Time // nil: never
	CreatedAt   time.Time  // zero: now
	Role        string     // default: named user key, provisioning or device key
	Secret      string     // default: a fresh random key
}

// CreateKey stores a key directly, bypassing the HTTP endpoints and their
// checks, and returns its record (with the secret).
func (s *Sim) CreateKey(nk NewKey) (KeyRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	actor, role, err := st.ownerActor(nk.Kind, nk.Owner)
	if err != nil {
		return KeyRecord{}, err
	}
	k := &apiKey{actor: actor, role: nk.Role, key: nk.Secret}
	if k.role == "" {
		k.role = role
	}
	if k.key == "" {
		k.key = randomKey()
	}
	if _, taken := st.keyBySecret[k.key]; taken {
		return KeyRecord{}, fmt.Errorf("balenasim: key secret already in use")
	}
	created := nk.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	k.created = created.UnixMilli()
	if nk.Name != nil {
		k.name, k.hasName = *nk.Name, true
	}
	if nk.Description != nil {
		k.desc, k.hasDesc = *nk.Description, true
	}
	if nk.ExpiryDate != nil {
		k.expiry, k.hasExpiry = nk.ExpiryDate.UnixMilli(), true
	}
	st.addKey(k)
	return st.record(k), nil
}

// ownerActor resolves a key owner (user email or username, fleet slug or
// device uuid) to its actor and the usual role of its keys.
func (st *store) ownerActor(kind KeyKind, owner string) (int64, string, error) {
	switch kind {
	case KindUser:
		if u, ok := st.userByEmailOrName(owner); ok {
			return u.actor, roleNamedUserKey, nil
		}
	case KindProvisioning:
		if a, ok := st.appBySlug(owner); ok {
			return a.actor, roleProvisioningKey, nil
		}
	case KindDevice:
		if d, ok := st.deviceByUUID(owner); ok {
			return d.actor, roleDeviceKey, nil
		}
	default:
		return 0, "", fmt.Errorf("balenasim: unknown key kind %q", kind)
	}
	return 0, "", fmt.Errorf("balenasim: no %s owner %q", kind, owner)
}
