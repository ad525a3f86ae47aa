package balenasim

// The schema describes each OData resource: its fields in balena's output
// order, which fields are foreign keys (and so also to-one navigations), its
// reverse navigations, and who may read which rows. Row numbers are int32
// indexes: id-1 for the fixed tables, the position in store.keys for
// api_key.

type ftype uint8

const (
	tNull ftype = iota
	tInt
	tNum
	tText
	tTime
	tBool
	tDur
)

// value is one SQL-ish value. It is passed by value and never allocates:
// times and durations are milliseconds in i, booleans 0/1 in i.
type value struct {
	t ftype
	i int64
	f float64
	s string
}

var null = value{}

func vInt(i int64) value   { return value{t: tInt, i: i} }
func vText(s string) value { return value{t: tText, s: s} }
func vTime(ms int64) value { return value{t: tTime, i: ms} }
func vBool(b bool) value {
	if b {
		return value{t: tBool, i: 1}
	}
	return value{t: tBool}
}

func optText(s string, ok bool) value {
	if !ok {
		return null
	}
	return vText(s)
}

type field struct {
	name string
	typ  ftype
	fk   *resource // set for foreign keys: rendered {"__id": N}, navigable
	// plainInV6 marks the actor FKs that API v6 renders as bare integers.
	plainInV6 bool
	get       func(st *store, row int32) value
}

type navigation struct {
	name   string
	target *resource
	fk     *field // to-one through this resource's own foreign key
	// each calls fn for every related row until fn returns false.
	each func(st *store, row int32, fn func(int32) bool)
	// one, when set, finds the single related row without a callback: the
	// reverse navigations from actor to its user, fleet or device are
	// arrays in OData but hold at most one row, and lambdas through them
	// run for every key a query scans.
	one func(st *store, row int32) (int32, bool)
}

type resource struct {
	name   string
	fields []*field
	byName map[string]*field
	navs   map[string]*navigation
	size   func(st *store) int
	rowID  func(st *store, row int32) int64
	byID   func(st *store, id int64) (int32, bool)
	// readable is the resource-level permission: false means 401.
	readable func(c *caller) bool
	// visible is the row-level permission, ANDed into every query.
	visible func(c *caller, st *store, row int32) bool
}

type schema struct {
	resources map[string]*resource
	apiKey    *resource
}

func (r *resource) addField(f *field) {
	r.fields = append(r.fields, f)
	r.byName[f.name] = f
}

func (r *resource) addFK(name string, target *resource, get func(st *store, row int32) value) *field {
	f := &field{name: name, typ: tInt, fk: target, get: get}
	r.addField(f)
	r.navs[name] = &navigation{name: name, target: target, fk: f}
	return f
}

func (r *resource) addNav(name string, target *resource, each func(st *store, row int32, fn func(int32) bool)) {
	r.navs[name] = &navigation{name: name, target: target, each: each}
}

func denseResource(name string, size func(st *store) int) *resource {
	return &resource{
		name:   name,
		byName: map[string]*field{},
		navs:   map[string]*navigation{},
		size:   size,
		rowID:  func(_ *store, row int32) int64 { return int64(row) + 1 },
		byID: func(st *store, id int64) (int32, bool) {
			if id < 1 || id > int64(size(st)) {
				return 0, false
			}
			return int32(id - 1), true
		},
	}
}

func fkValue(id int64) value {
	if id == 0 {
		return null
	}
	return vInt(id)
}

// newSchema builds the model for one profile. open-balena exposes
// modified_at and the plaintext key and hides actor from users; balenaCloud
// does the opposite.
func newSchema(profile Profile) *schema {
	ob := profile == ProfileOpenBalena
	users := denseResource("user", func(st *store) int { return len(st.users) })
	actors := denseResource("actor", func(st *store) int { return len(st.actors) })
	apps := denseResource("application", func(st *store) int { return len(st.apps) })
	devices := denseResource("device", func(st *store) int { return len(st.devices) })
	orgs := denseResource("organization", func(st *store) int { return len(st.orgs) })
	members := denseResource("organization_membership", func(st *store) int { return len(st.memberships) })
	roles := denseResource("organization_membership_role", func(st *store) int { return len(st.roles) })
	keys := &resource{
		name:   "api_key",
		byName: map[string]*field{},
		navs:   map[string]*navigation{},
		size:   func(st *store) int { return len(st.keys) },
		rowID:  func(st *store, row int32) int64 { return st.keys[row].id },
		byID: func(st *store, id int64) (int32, bool) {
			k, ok := st.keyByID[id]
			if !ok {
				return 0, false
			}
			for _, i := range st.keysByActor[k.actor] {
				if st.keys[i] == k {
					return i, true
				}
			}
			return 0, false
		},
	}

	common := func(r *resource, created func(st *store, row int32) int64) {
		r.addField(&field{name: "created_at", typ: tTime, get: func(st *store, row int32) value { return vTime(created(st, row)) }})
		if ob {
			r.addField(&field{name: "modified_at", typ: tTime, get: func(st *store, row int32) value { return vTime(created(st, row)) }})
		}
		r.addField(&field{name: "id", typ: tInt, get: func(st *store, row int32) value { return vInt(r.rowID(st, row)) }})
	}
	text := func(r *resource, name string, get func(st *store, row int32) string) {
		r.addField(&field{name: name, typ: tText, get: func(st *store, row int32) value { return vText(get(st, row)) }})
	}
	boolean := func(r *resource, name string, get func(st *store, row int32) bool) {
		r.addField(&field{name: name, typ: tBool, get: func(st *store, row int32) value { return vBool(get(st, row)) }})
	}
	actorFK := func(r *resource, get func(st *store, row int32) int64) {
		f := r.addFK("actor", actors, func(st *store, row int32) value { return fkValue(get(st, row)) })
		f.plainInV6 = true
	}

	// user
	common(users, func(st *store, row int32) int64 { return st.users[row].created })
	actorFK(users, func(st *store, row int32) int64 { return st.users[row].actor })
	text(users, "username", func(st *store, row int32) string { return st.users[row].username })
	users.addNav("organization_membership", members, func(st *store, row int32, fn func(int32) bool) {
		for i := range st.memberships {
			if st.memberships[i].user == int64(row)+1 && !fn(int32(i)) {
				return
			}
		}
	})

	// actor
	common(actors, func(st *store, row int32) int64 { return st.actors[row].created })
	ownerNav := func(name string, target *resource, kind actorKind) {
		one := func(st *store, row int32) (int32, bool) {
			a := st.actors[row]
			return int32(a.id - 1), a.kind == kind
		}
		actors.addNav(name, target, func(st *store, row int32, fn func(int32) bool) {
			if r, ok := one(st, row); ok {
				fn(r)
			}
		})
		actors.navs[name].one = one
	}
	ownerNav("is_of__user", users, actorUser)
	ownerNav("is_of__application", apps, actorApp)
	ownerNav("is_of__device", devices, actorDevice)
	actors.addNav("api_key", keys, func(st *store, row int32, fn func(int32) bool) {
		for _, i := range st.keysByActor[int64(row)+1] {
			if !fn(i) {
				return
			}
		}
	})

	// application (fleet)
	common(apps, func(st *store, row int32) int64 { return st.apps[row].created })
	apps.addFK("organization", orgs, func(st *store, row int32) value { return fkValue(st.apps[row].org) })
	actorFK(apps, func(st *store, row int32) int64 { return st.apps[row].actor })
	text(apps, "app_name", func(st *store, row int32) string { return st.apps[row].appName })
	text(apps, "slug", func(st *store, row int32) string { return st.apps[row].slug })
	text(apps, "uuid", func(st *store, row int32) string { return st.apps[row].uuid })
	text(apps, "is_of__class", func(st *store, row int32) string { return st.apps[row].class })
	boolean(apps, "is_public", func(st *store, row int32) bool { return st.apps[row].public })
	boolean(apps, "is_host", func(st *store, row int32) bool { return st.apps[row].host })
	boolean(apps, "is_archived", func(st *store, row int32) bool { return st.apps[row].archived })
	apps.addNav("owns__device", devices, func(st *store, row int32, fn func(int32) bool) {
		for _, i := range st.devicesByApp[row] {
			if !fn(i) {
				return
			}
		}
	})
	apps.addNav("is_directly_accessible_by__user", users, func(st *store, row int32, fn func(int32) bool) {
		app := &st.apps[row]
		for i := range st.users {
			if st.canManage(st.users[i].id, app) && !fn(int32(i)) {
				return
			}
		}
	})

	// device
	common(devices, func(st *store, row int32) int64 { return st.devices[row].created })
	actorFK(devices, func(st *store, row int32) int64 { return st.devices[row].actor })
	devices.addFK("belongs_to__application", apps, func(st *store, row int32) value { return fkValue(st.devices[row].app) })
	text(devices, "uuid", func(st *store, row int32) string { return st.devices[row].uuid })
	text(devices, "device_name", func(st *store, row int32) string { return st.devices[row].name })
	boolean(devices, "is_online", func(st *store, row int32) bool { return st.devices[row].online })
	boolean(devices, "is_active", func(st *store, row int32) bool { return st.devices[row].active })
	devices.addField(&field{name: "last_connectivity_event", typ: tTime, get: func(st *store, row int32) value {
		d := &st.devices[row]
		if !d.seen {
			return null
		}
		return vTime(d.lastSeen)
	}})
	text(devices, "api_heartbeat_state", func(st *store, row int32) string { return st.devices[row].heartbeat() })

	// organization
	common(orgs, func(st *store, row int32) int64 { return st.orgs[row].created })
	text(orgs, "name", func(st *store, row int32) string { return st.orgs[row].name })
	text(orgs, "handle", func(st *store, row int32) string { return st.orgs[row].handle })
	orgs.addNav("application", apps, func(st *store, row int32, fn func(int32) bool) {
		for i := range st.apps {
			if st.apps[i].org == int64(row)+1 && !fn(int32(i)) {
				return
			}
		}
	})
	orgs.addNav("organization_membership", members, func(st *store, row int32, fn func(int32) bool) {
		for i := range st.memberships {
			if st.memberships[i].org == int64(row)+1 && !fn(int32(i)) {
				return
			}
		}
	})

	// organization_membership and its roles
	common(members, func(st *store, row int32) int64 { return st.memberships[row].created })
	members.addFK("user", users, func(st *store, row int32) value { return fkValue(st.memberships[row].user) })
	members.addFK("is_member_of__organization", orgs, func(st *store, row int32) value { return fkValue(st.memberships[row].org) })
	members.addFK("organization_membership_role", roles, func(st *store, row int32) value { return fkValue(st.memberships[row].role) })
	text(members, "effective_seat_role", func(st *store, row int32) string { return st.memberships[row].seat })
	roles.addField(&field{name: "id", typ: tInt, get: func(st *store, row int32) value { return vInt(st.roles[row].id) }})
	text(roles, "name", func(st *store, row int32) string { return st.roles[row].name })

	// api_key
	common(keys, func(st *store, row int32) int64 { return st.keys[row].created })
	if ob {
		// open-balena lets owners read the secret back (section 10.4).
		text(keys, "key", func(st *store, row int32) string { return st.keys[row].key })
	}
	keys.addField(&field{name: "expiry_date", typ: tTime, get: func(st *store, row int32) value {
		k := st.keys[row]
		if !k.hasExpiry {
			return null
		}
		return vTime(k.expiry)
	}})
	keys.addFK("is_of__actor", actors, func(st *store, row int32) value { return vInt(st.keys[row].actor) })
	keys.addField(&field{name: "name", typ: tText, get: func(st *store, row int32) value {
		k := st.keys[row]
		return optText(k.name, k.hasName)
	}})
	keys.addField(&field{name: "description", typ: tText, get: func(st *store, row int32) value {
		k := st.keys[row]
		return optText(k.desc, k.hasDesc)
	}})

	setPermissions(ob, users, actors, apps, devices, orgs, members, roles, keys)
	s := &schema{resources: map[string]*resource{}, apiKey: keys}
	for _, r := range []*resource{users, actors, apps, devices, orgs, members, roles, keys} {
		s.resources[r.name] = r
	}
	return s
}

// setPermissions encodes section 4: users read what their organizations and
// fleets reach; fleet and device keys read only their own fleet and devices;
// nobody reads another user's personal keys.
func setPermissions(ob bool, users, actors, apps, devices, orgs, members, roles, keys *resource) {
	userOnly := func(c *caller) bool { return c.isUser() }
	users.readable = userOnly
	users.visible = func(c *caller, st *store, row int32) bool { return c.grants.users[row+1] }

	actors.readable = func(c *caller) bool { return c.isUser() && !ob }
	actors.visible = func(c *caller, st *store, row int32) bool {
		a := st.actors[row]
		switch a.kind {
		case actorUser:
			return c.grants.users[a.id]
		case actorApp:
			return apps.visible(c, st, int32(a.id-1))
		default:
			return devices.visible(c, st, int32(a.id-1))
		}
	}

	apps.readable = func(c *caller) bool { return c.kind != callerAnonymous }
	// open-balena's provisioning-api-key role grants only
	// resin.device.create in its fleet: such a key reads no fleet and no
	// device (the SDK's application.get gets an empty list), where
	// balenaCloud lets it read its own fleet.
	apps.visible = func(c *caller, st *store, row int32) bool {
		a := &st.apps[row]
		switch c.kind {
		case callerFleetKey:
			return !ob && a.id == c.app.id
		case callerDeviceKey:
			return a.id == c.dev.app
		}
		return c.grants.fleets[a.id] || a.public
	}
	devices.readable = apps.readable
	devices.visible = func(c *caller, st *store, row int32) bool {
		d := &st.devices[row]
		switch c.kind {
		case callerFleetKey:
			return !ob && d.app == c.app.id
		case callerDeviceKey:
			return d.id == c.dev.id
		}
		return c.grants.fleets[d.app]
	}

	orgs.readable = userOnly
	orgs.visible = func(c *caller, st *store, row int32) bool { return c.grants.orgs[row+1] }
	members.readable = userOnly
	members.visible = func(c *caller, st *store, row int32) bool { return c.grants.orgs[st.memberships[row].org] }
	roles.readable = userOnly
	roles.visible = func(*caller, *store, int32) bool { return true }

	keys.readable = userOnly
	keys.visible = func(c *caller, st *store, row int32) bool { return c.grants.keyActors[st.keys[row].actor] }
}

// canManage reports whether a user reaches a fleet: as an administrator of
// its organization or through direct access.
func (st *store) canManage(userID int64, app *application) bool {
	for _, m := range st.memberships {
		if m.user == userID && m.org == app.org && m.role == roleAdministrator {
			return true
		}
	}
	for _, a := range st.access {
		if a.user == userID && a.app == app.id {
			return true
		}
	}
	return false
}
