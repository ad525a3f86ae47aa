package balenasim

import (
	"slices"
	"sync"
)

// The store holds balena's rows in memory. Users, organizations, fleets and
// devices never change after seeding, so their ids are dense (id = index+1)
// and lookups are slice indexing. Only api_key rows come and go; they keep
// a map by id and an index by actor, rebuilt after each change.
//
// Times are Unix milliseconds: balena stores and compares dates truncated
// to the millisecond.

type actorKind uint8

const (
	actorUser actorKind = iota + 1
	actorApp
	actorDevice
)

type actorRef struct {
	kind    actorKind
	id      int64 // user, application or device id
	created int64
}

type user struct {
	id, actor  int64
	username   string
	email      string
	password   string
	totpSecret string // "" when 2FA is off
	created    int64
}

type organization struct {
	id           int64
	name, handle string
	created      int64
}

type membershipRole struct {
	id   int64
	name string
}

const (
	roleAdministrator int64 = 1
	roleMember        int64 = 2
)

type orgMembership struct {
	id, user, org, role int64
	seat                string
	created             int64
}

type application struct {
	id, actor, org         int64
	appName, slug, uuid    string
	class                  string
	public, host, archived bool
	created                int64
}

type device struct {
	id, actor, app int64
	uuid, name     string
	online, active bool
	created        int64
	// lastSeen is last_connectivity_event: when the device last came
	// online or went offline; seen false is null, a device that never
	// connected.
	lastSeen int64
	seen     bool
}

// heartbeat is api_heartbeat_state as balena derives it from the device's
// connectivity.
func (d *device) heartbeat() string {
	switch {
	case d.online:
		return "online"
	case d.seen:
		return "offline"
	}
	return "unknown"
}

// appAccess grants a user direct access to a fleet (balena's
// user__is_member_of__application); organization administrators have it
// implicitly for every fleet of their organization.
type appAccess struct{ user, app int64 }

// Key roles, as open-balena names them; the kind of a key follows from its
// actor, the role only distinguishes named from legacy user keys.
const (
	roleNamedUserKey    = "named-user-api-key"
	roleUserKey         = "user-api-key"
	roleProvisioningKey = "provisioning-api-key"
	roleDeviceKey       = "device-api-key"
)

type apiKey struct {
	id, actor        int64
	key              string
	created          int64 // served as modified_at too
	expiry           int64
	hasExpiry        bool
	name, desc       string
	hasName, hasDesc bool
	role             string
}

// validAt reports whether the key authenticates at now (ms): balena's
// "expiry_date IS NULL OR expiry_date > now()".
func (k *apiKey) validAt(now int64) bool { return !k.hasExpiry || k.expiry > now }

type store struct {
	users       []user
	orgs        []organization
	roles       []membershipRole
	memberships []orgMembership
	apps        []application
	devices     []device
	access      []appAccess
	actors      []actorRef

	devicesByApp [][]int32 // application row → device rows

	keys        []*apiKey // ordered by id
	keyByID     map[int64]*apiKey
	keyBySecret map[string]*apiKey
	keysByActor map[int64][]int32 // actor id → indexes into keys
	nextKeyID   int64

	// per-user derived sets, computed on first use; they depend only on
	// memberships, which never change after seeding. Readers share the
	// store's read lock, so the cache has its own.
	grantsMu sync.Mutex
	grants   map[int64]*grants
}

func newStore() *store {
	return &store{
		keyByID:     map[int64]*apiKey{},
		keyBySecret: map[string]*apiKey{},
		keysByActor: map[int64][]int32{},
		grants:      map[int64]*grants{},
		nextKeyID:   1,
		roles:       []membershipRole{{roleAdministrator, "administrator"}, {roleMember, "member"}},
	}
}

func (st *store) newActor(kind actorKind, id, created int64) int64 {
	st.actors = append(st.actors, actorRef{kind: kind, id: id, created: created})
	return int64(len(st.actors))
}

func (st *store) actor(id int64) (actorRef, bool) {
	if id < 1 || id > int64(len(st.actors)) {
		return actorRef{}, false
	}
	return st.actors[id-1], true
}

func rowOf[T any](rows []T, id int64) (*T, bool) {
	if id < 1 || id > int64(len(rows)) {
		return nil, false
	}
	return &rows[id-1], true
}

func (st *store) userByEmailOrName(s string) (*user, bool) {
	for i := range st.users {
		if st.users[i].email == s || st.users[i].username == s {
			return &st.users[i], true
		}
	}
	return nil, false
}

func (st *store) appBySlug(slug string) (*application, bool) {
	for i := range st.apps {
		if st.apps[i].slug == slug {
			return &st.apps[i], true
		}
	}
	return nil, false
}

func (st *store) deviceByUUID(uuid string) (*device, bool) {
	for i := range st.devices {
		if st.devices[i].uuid == uuid {
			return &st.devices[i], true
		}
	}
	return nil, false
}

func (st *store) addKey(k *apiKey) {
	k.id = st.nextKeyID
	st.nextKeyID++
	st.keys = append(st.keys, k)
	st.keyByID[k.id] = k
	st.keyBySecret[k.key] = k
	st.keysByActor[k.actor] = append(st.keysByActor[k.actor], int32(len(st.keys)-1))
}

func (st *store) deleteKeys(ids map[int64]bool) {
	if len(ids) == 0 {
		return
	}
	st.keys = slices.DeleteFunc(st.keys, func(k *apiKey) bool {
		if ids[k.id] {
			delete(st.keyByID, k.id)
			delete(st.keyBySecret, k.key)
			return true
		}
		return false
	})
	st.reindexKeys()
}

func (st *store) reindexKeys() {
	clear(st.keysByActor)
	for i, k := range st.keys {
		st.keysByActor[k.actor] = append(st.keysByActor[k.actor], int32(i))
	}
}

// grants are what a user may reach: the organizations they belong to, the
// fleets they can manage (and so whose provisioning and device keys they
// see), the users they share an organization with, and the actors whose keys
// are visible.
type grants struct {
	orgs      []bool // by org id
	fleets    []bool // by application id
	users     []bool // by user id
	keyActors []bool // by actor id
}

func (st *store) grantsFor(userID int64, ownKeysOnly bool) *grants {
	cacheKey := userID
	if ownKeysOnly {
		cacheKey = -userID
	}
	st.grantsMu.Lock()
	defer st.grantsMu.Unlock()
	if g, ok := st.grants[cacheKey]; ok {
		return g
	}
	g := &grants{
		orgs:      make([]bool, len(st.orgs)+1),
		fleets:    make([]bool, len(st.apps)+1),
		users:     make([]bool, len(st.users)+1),
		keyActors: make([]bool, len(st.actors)+1),
	}
	adminOf := make([]bool, len(st.orgs)+1)
	for _, m := range st.memberships {
		if m.user == userID {
			g.orgs[m.org] = true
			adminOf[m.org] = m.role == roleAdministrator
		}
	}
	for _, m := range st.memberships {
		if g.orgs[m.org] {
			g.users[m.user] = true
		}
	}
	g.users[userID] = true
	for _, a := range st.apps {
		if adminOf[a.org] {
			g.fleets[a.id] = true
		}
	}
	for _, a := range st.access {
		if a.user == userID {
			g.fleets[a.app] = true
		}
	}
	if u, ok := rowOf(st.users, userID); ok {
		g.keyActors[u.actor] = true
	}
	if !ownKeysOnly {
		for _, a := range st.apps {
			if g.fleets[a.id] {
				g.keyActors[a.actor] = true
			}
		}
		for _, d := range st.devices {
			if g.fleets[d.app] {
				g.keyActors[d.actor] = true
			}
		}
	}
	st.grants[cacheKey] = g
	return g
}
