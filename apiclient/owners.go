package apiclient

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/encoding/json"
)

// How a key's owner is learnt.
//
// balenaCloud lets a user read actor, so one list request brings every
// row's owner with it through $expand=is_of__actor(...), and kind filters
// are lambdas through is_of__actor. open-balena does not: anything that
// touches actor is a 401. There the client asks for the caller's identity,
// fleets and devices first, filters by actor ids, and tells kinds apart by
// which of those an actor id belongs to.
//
// Which of the two applies is learnt once per Client, from the first list
// (see Session.actorHidden), and kept.

// ownerExpand brings a key's owner along with the key.
const ownerExpand = "is_of__actor($select=id;$expand=" +
	"is_of__user($select=id,username)," +
	"is_of__application($select=id,slug)," +
	"is_of__device($select=id,uuid,device_name,is_online,last_connectivity_event))"

// actorRow is an expanded is_of__actor. balena writes every expanded
// navigation as an array, to-one or not.
type actorRow struct {
	ID      int64         `json:"id"`
	Users   []actorUser   `json:"is_of__user"`
	Fleets  []actorFleet  `json:"is_of__application"`
	Devices []actorDevice `json:"is_of__device"`
}

type actorUser struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

type actorFleet struct {
	ID   int64  `json:"id"`
	Slug string `json:"slug"`
}

type actorDevice struct {
	ID         int64      `json:"id"`
	UUID       string     `json:"uuid"`
	DeviceName string     `json:"device_name"`
	Online     bool       `json:"is_online"`
	LastSeen   *time.Time `json:"last_connectivity_event"`
}

// seedExpandedRows is room for n rows of a list with owners, each row's
// actor, and the actor's user, fleet and device, already there as
// one-element slices of five shared arrays, for decodeRows to fill. The
// JSON decoder gives a slice it must grow ten elements to start with: a
// 50-row page took some 150 allocations and 70 KB for owners that are one
// per key. Rows past n, and a second owner, grow as before.
func seedExpandedRows(n int) []expandedKeyRow {
	if n <= 0 {
		return nil
	}
	rows, actors := make([]expandedKeyRow, n), make([]actorRow, n)
	users, fleets, devices := make([]actorUser, n), make([]actorFleet, n), make([]actorDevice, n)
	for i := range rows {
		actors[i].Users, actors[i].Fleets, actors[i].Devices = users[i:i:i+1], fleets[i:i:i+1], devices[i:i:i+1]
		rows[i].Actor = actors[i : i : i+1]
	}
	return rows
}

// actorRef is a reference to another row in either of balena's shapes:
// {"__id": N} in v7, a bare number in v6. Expanded references are arrays
// of rows and are read as such (see expandedKeyRow).
type actorRef struct {
	ID int64
}

func (r *actorRef) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '{':
		var ref struct {
			ID int64 `json:"__id"`
		}
		err := json.Unmarshal(b, &ref)
		r.ID = ref.ID
		return err
	}
	return json.Unmarshal(b, &r.ID)
}

// owner tells kind and owner from an expanded actor.
func (r *actorRow) owner() (KeyKind, Owner) {
	o := Owner{ActorID: r.ID}
	switch {
	case len(r.Users) > 0:
		o.Username = r.Users[0].Username
		return KindUser, o
	case len(r.Fleets) > 0:
		o.FleetID, o.FleetSlug = r.Fleets[0].ID, r.Fleets[0].Slug
		return KindProvisioning, o
	case len(r.Devices) > 0:
		d := r.Devices[0]
		o.DeviceID, o.DeviceUUID, o.DeviceName = d.ID, d.UUID, d.DeviceName
		o.DeviceOnline, o.DeviceLastSeen = d.Online, d.LastSeen
		return KindDevice, o
	}
	return "", o
}

// ActorHidden reports whether this deployment is known not to let users
// read a key's actor. Such a deployment (open-balena) also hides the keys
// of other actors, the user's fleets and devices, from them. It is learnt
// from the first list of keys.
func (s *Session) ActorHidden() bool { return s.c.actorAccess.Load() == actorHidden }

// actorHidden reports whether err, from a request that read actor, means
// that this caller may not read actor rather than that the token is bad.
// Only a user whose token still works is taken to be such a caller; the
// answer is then kept for the Client if nothing was known yet.
func (s *Session) actorHidden(ctx context.Context, err error) bool {
	if err == nil {
		s.c.actorAccess.CompareAndSwap(actorUnknown, actorReadable)
		return false
	}
	if ErrorCode(err) != CodeUnauthorized {
		return false
	}
	// A fresh whoami, not the cached identity: it is the token being tested.
	id, werr := s.WhoAmI(ctx)
	if werr != nil || id.ActorType != "user" {
		return false
	}
	s.c.actorAccess.CompareAndSwap(actorUnknown, actorHidden)
	return true
}

// actorSet is what the id-based form needs to know about owners.
type actorSet struct {
	me           Identity
	fleets       []Fleet
	fleetsLoaded bool
	devices      []Device // the devices of the fleets the query named
	named        []Device // the devices the query's Device named
	silent       []Device // the devices the query's SeenBefore keeps
}

func (ax *actorSet) fleetActors() []int64 {
	ids := make([]int64, 0, len(ax.fleets))
	for _, f := range ax.fleets {
		ids = append(ids, f.ActorID)
	}
	return ids
}

// fleetNamedActors are the actors of the fleets with this slug or name
// and of their devices.
func (ax *actorSet) fleetNamedActors(text string) []int64 {
	var ids []int64
	for _, f := range ax.fleets {
		if !f.named(text) {
			continue
		}
		ids = append(ids, f.ActorID)
		for _, d := range ax.devices {
			if d.FleetID == f.ID {
				ids = append(ids, d.ActorID)
			}
		}
	}
	return ids
}

// deviceActors are the actors of devices.
func deviceActors(devices []Device) []int64 {
	ids := make([]int64, 0, len(devices))
	for _, d := range devices {
		ids = append(ids, d.ActorID)
	}
	return ids
}

// named reports whether text is f's slug or name.
func (f Fleet) named(text string) bool { return f.Slug == text || f.AppName == text }

// resolve learns the actor ids that q's owner conditions name.
func (s *Session) resolve(ctx context.Context, q KeyQuery) (*actorSet, error) {
	ax := &actorSet{}
	me, err := s.identity(ctx)
	if err != nil {
		return nil, err
	}
	ax.me = me
	ks := q.kinds()
	needFleets := q.Fleet != "" || slices.Contains(ks, KindProvisioning) || slices.Contains(ks, KindDevice)
	var named, silent []Device
	err = parallel(ctx,
		func(ctx context.Context) error {
			if !needFleets {
				return nil
			}
			return s.loadFleets(ctx, ax)
		},
		func(ctx context.Context) error {
			if q.Device == "" {
				return nil
			}
			var err error
			named, err = s.DevicesNamed(ctx, q.Device, 0)
			return err
		},
		func(ctx context.Context) error {
			if q.SeenBefore == nil {
				return nil
			}
			var err error
			key := fmt.Sprintf("silent %d %q %q", q.SeenBefore.UnixMilli(), q.Fleet, q.Device)
			silent, err = readOnce(ctx, s, key, func(ctx context.Context) ([]Device, error) { return s.silentDevices(ctx, q) })
			return err
		})
	if err != nil {
		return nil, err
	}
	ax.named, ax.silent = named, silent
	if q.Fleet != "" {
		for _, f := range ax.fleets {
			if !f.named(q.Fleet) {
				continue
			}
			devs, err := s.DevicesByFleet(ctx, f.ID)
			if err != nil {
				return nil, err
			}
			ax.devices = append(ax.devices, devs...)
		}
	}
	return ax, nil
}

// silentDevices are the devices q.SeenBefore keeps, within q's fleet and
// device when it names them. Their actor ids go into the keys' filter,
// whose URL must stay short (a proxy's limit is often 8 KB): past
// MaxReadIDs of them, q is refused and should be narrowed.
func (s *Session) silentDevices(ctx context.Context, q KeyQuery) ([]Device, error) {
	const op = "devices seen before"
	conds := []string{seenBefore("", *q.SeenBefore)}
	if q.Fleet != "" {
		conds = append(conds, "belongs_to__application/any(f:"+fleetNamed("f", q.Fleet)+")")
	}
	if q.Device != "" {
		conds = append(conds, deviceNamed("", q.Device))
	}
	devs, err := s.devices(ctx, op, odata{Filter: and(conds...), Top: MaxReadIDs + 1})
	if err != nil {
		return nil, err
	}
	if len(devs) > MaxReadIDs {
		return nil, invalidError(op, fmt.Sprintf("more than %d devices were last seen before that day, more than one request to this server can name; narrow the view to a fleet or a device", MaxReadIDs))
	}
	return devs, nil
}

func (s *Session) loadFleets(ctx context.Context, ax *actorSet) error {
	fleets, err := readOnce(ctx, s, "fleets", s.Fleets)
	if err != nil {
		return err
	}
	ax.fleets, ax.fleetsLoaded = fleets, true
	return nil
}

// label sets kind and owner of keys listed without expansion: the caller's
// own actor makes a user key, a fleet's a provisioning key, a device's a
// device key. Actors that are none of the caller's are looked up in one
// call for devices (and one for fleets, if not loaded yet).
func (s *Session) label(ctx context.Context, keys []APIKey, ax *actorSet) error {
	var others []int64
	for i := range keys {
		k := &keys[i]
		if k.Owner.ActorID == ax.me.ActorID && ax.me.ActorType == "user" {
			k.Kind, k.Owner.Username = KindUser, ax.me.Username
		} else if !slices.Contains(others, k.Owner.ActorID) {
			others = append(others, k.Owner.ActorID)
		}
	}
	if len(others) == 0 {
		return nil
	}
	var devices []Device
	err := parallel(ctx,
		func(ctx context.Context) error {
			if ax.fleetsLoaded {
				return nil
			}
			return s.loadFleets(ctx, ax)
		},
		func(ctx context.Context) error {
			var err error
			devices, err = s.DevicesByActor(ctx, others...)
			return err
		})
	if err != nil {
		return err
	}
	fleets := make(map[int64]Fleet, len(ax.fleets))
	for _, f := range ax.fleets {
		fleets[f.ActorID] = f
	}
	devs := make(map[int64]Device, len(devices))
	for _, d := range devices {
		devs[d.ActorID] = d
	}
	for i := range keys {
		k := &keys[i]
		if f, ok := fleets[k.Owner.ActorID]; ok && k.Kind == "" {
			k.Kind, k.Owner.FleetID, k.Owner.FleetSlug = KindProvisioning, f.ID, f.Slug
		} else if d, ok := devs[k.Owner.ActorID]; ok && k.Kind == "" {
			k.Kind = KindDevice
			k.Owner.DeviceID, k.Owner.DeviceUUID, k.Owner.DeviceName = d.ID, d.UUID, d.DeviceName
			k.Owner.DeviceOnline, k.Owner.DeviceLastSeen = d.Online, d.LastSeen
		}
	}
	return nil
}

// keyPath is the OData address of one key.
func keyPath(id int64) string { return fmt.Sprintf("/v7/api_key(%d)", id) }
