package apiclient

import (
	"context"
	"strings"
	"time"
)

// Fleets, devices and their actors: what the portal needs to offer owners
// in forms and to tell key kinds apart where actor cannot be read.

// fleetRow and deviceRow read their references with actorRef, which takes
// any foreign key in either of balena's shapes ({"__id": N} in v7, a
// number in v6).
type fleetRow struct {
	ID      int64    `json:"id"`
	AppName string   `json:"app_name"`
	Slug    string   `json:"slug"`
	Actor   actorRef `json:"actor"`
}

type deviceRow struct {
	ID         int64      `json:"id"`
	UUID       string     `json:"uuid"`
	DeviceName string     `json:"device_name"`
	Fleet      actorRef   `json:"belongs_to__application"`
	Actor      actorRef   `json:"actor"`
	Online     bool       `json:"is_online"`
	LastSeen   *time.Time `json:"last_connectivity_event"`
}

// Fleets returns the fleets the caller reaches directly (not public fleets
// of others), by slug.
func (s *Session) Fleets(ctx context.Context) ([]Fleet, error) {
	const op = "list fleets"
	o := odata{
		Select:  []string{"id", "app_name", "slug", "actor"},
		Filter:  "is_directly_accessible_by__user/any(dau:true)",
		OrderBy: []string{"slug asc", "id asc"},
	}
	rows, err := getRows[fleetRow](ctx, s, op, "/v7/application", o)
	if err != nil {
		return nil, err
	}
	fleets := make([]Fleet, len(rows))
	for i, r := range rows {
		fleets[i] = Fleet{ID: r.ID, Slug: r.Slug, AppName: r.AppName, ActorID: r.Actor.ID}
	}
	return fleets, nil
}

// DevicesByUUID returns the devices with these full uuids that the caller
// can see.
func (s *Session) DevicesByUUID(ctx context.Context, uuids ...string) ([]Device, error) {
	if len(uuids) == 0 {
		return []Device{}, nil
	}
	lits := make([]string, len(uuids))
	for i, u := range uuids {
		lits[i] = quote(u)
	}
	filter := "uuid eq " + lits[0]
	if len(lits) > 1 {
		filter = "uuid in (" + strings.Join(lits, ",") + ")"
	}
	return s.devices(ctx, "devices by uuid", odata{Filter: filter})
}

// SearchDevices returns up to top devices whose uuid starts with text or
// whose name contains it, ignoring case, by name: suggestions for a
// device picker.
func (s *Session) SearchDevices(ctx context.Context, text string, top int) ([]Device, error) {
	return s.devices(ctx, "search devices", odata{
		Filter: or("startswith(uuid,"+quote(strings.ToLower(text))+")", "contains(tolower(device_name),"+lowerLiteral(text)+")"),
		Top:    top,
	})
}

// DevicesNamed returns up to top devices that a device field's text names:
// those whose name is text exactly and, when text can be one (7 to 62
// hexadecimal characters), those whose uuid starts with it, by name.
func (s *Session) DevicesNamed(ctx context.Context, text string, top int) ([]Device, error) {
	return s.devices(ctx, "devices named", odata{Filter: deviceNamed("", text), Top: top})
}

// deviceNamed is the condition of DevicesNamed on a device, written as
// alias/field inside a lambda (alias "d") or as a plain field (alias "").
func deviceNamed(alias, text string) string {
	field := func(f string) string {
		if alias == "" {
			return f
		}
		return alias + "/" + f
	}
	conds := []string{field("device_name") + " eq " + quote(text)}
	if IsUUIDPrefix(text) {
		conds = append(conds, "startswith("+field("uuid")+","+quote(strings.ToLower(text))+")")
	}
	return or(conds...)
}

// IsUUIDPrefix reports whether s can be the start of a device uuid that
// names one device: 7 to 62 hexadecimal characters (the 7 the portal and
// balena's dashboard show), of either case.
func IsUUIDPrefix(s string) bool {
	if len(s) < 7 || len(s) > 62 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f') {
			return false
		}
	}
	return true
}

// DevicesByFleet returns the devices of a fleet.
func (s *Session) DevicesByFleet(ctx context.Context, fleetID int64) ([]Device, error) {
	return s.devices(ctx, "devices of fleet", odata{Filter: "belongs_to__application eq " + num(fleetID)})
}

// DevicesByActor returns the devices whose actors these are, in one call;
// ids that are not devices' are ignored.
func (s *Session) DevicesByActor(ctx context.Context, actorIDs ...int64) ([]Device, error) {
	if len(actorIDs) == 0 {
		return []Device{}, nil
	}
	return s.devices(ctx, "devices by actor", odata{Filter: in("actor", actorIDs)})
}

// devices reads the devices o filters (and limits), by name.
func (s *Session) devices(ctx context.Context, op string, o odata) ([]Device, error) {
	o.Select = []string{"id", "uuid", "device_name", "belongs_to__application", "actor", "is_online", "last_connectivity_event"}
	o.OrderBy = []string{"device_name asc", "id asc"}
	rows, err := getRows[deviceRow](ctx, s, op, "/v7/device", o)
	if err != nil {
		return nil, err
	}
	devices := make([]Device, len(rows))
	for i, r := range rows {
		devices[i] = Device{ID: r.ID, UUID: r.UUID, DeviceName: r.DeviceName, FleetID: r.Fleet.ID, ActorID: r.Actor.ID,
			Online: r.Online, LastSeen: r.LastSeen}
	}
	return devices, nil
}
