package balenasim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Datasets are deterministic: the same name gives the same rows, ids and
// secrets; timestamps are relative to the clock at seeding, so "expires in
// 4 days" stays true whenever a test runs.

// Datasets lists the names New accepts.
var Datasets = []string{"demo", "large", "empty"}

// CallTimeout is how long a test lets one balena call on a dataset take:
// the limit a test gives the client (or the portal's
// KEYPORTAL_UPSTREAM_TIMEOUT) in front of a stand-in seeded with it. A
// call on the large dataset walks its 21,000 keys here and, for a list,
// encodes and decodes them: with -race on a loaded 2-CPU machine that has
// taken more than 5 s, and the portal then rightly answered 504. Tests
// count calls and check figures; they do not time them (make bench does,
// without -race), so the large dataset's limit is one only a hung call
// reaches.
func CallTimeout(dataset string) time.Duration {
	if dataset == "large" {
		return time.Minute
	}
	return 5 * time.Second
}

func seed(name string, now time.Time) (*store, error) {
	b := &builder{st: newStore(), now: now, rng: rand.New(rand.NewPCG(20261126, 7))}
	switch name {
	case "demo":
		b.demo()
	case "large":
		b.large()
	case "empty":
		b.people()
	default:
		return nil, fmt.Errorf("balenasim: unknown dataset %q (want demo, large or empty)", name)
	}
	b.st.finish()
	return b.st, nil
}

type builder struct {
	st  *store
	now time.Time
	rng *rand.Rand
}

const day = 24 * time.Hour

func (b *builder) ago(d time.Duration) int64 { return b.now.Add(-d).UnixMilli() }

// hexID derives a stable 32-hex-digit uuid from a name.
func hexID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:16])
}

func (b *builder) user(username, email, totp string, age time.Duration) *user {
	st := b.st
	id := int64(len(st.users) + 1)
	created := b.ago(age)
	st.users = append(st.users, user{
		id: id, actor: st.newActor(actorUser, id, created), username: username, email: email,
		password: DemoPassword, totpSecret: totp, created: created,
	})
	return &st.users[id-1]
}

func (b *builder) org(handle, name string) int64 {
	id := int64(len(b.st.orgs) + 1)
	b.st.orgs = append(b.st.orgs, organization{id: id, name: name, handle: handle, created: b.ago(900 * day)})
	return id
}

func (b *builder) member(u *user, org, role int64) {
	id := int64(len(b.st.memberships) + 1)
	b.st.memberships = append(b.st.memberships, orgMembership{id: id, user: u.id, org: org, role: role, seat: "member", created: b.ago(800 * day)})
}

func (b *builder) fleet(org int64, appName string, age time.Duration) *application {
	st := b.st
	id := int64(len(st.apps) + 1)
	created := b.ago(age)
	slug := st.orgs[org-1].handle + "/" + appName
	st.apps = append(st.apps, application{
		id: id, actor: st.newActor(actorApp, id, created), org: org, appName: appName, slug: slug,
		uuid: hexID("fleet/" + slug), class: "fleet", created: created,
	})
	return &st.apps[id-1]
}

func (b *builder) device(app *application, name string, age time.Duration, online bool) *device {
	st := b.st
	id := int64(len(st.devices) + 1)
	created := b.ago(age)
	st.devices = append(st.devices, device{
		id: id, actor: st.newActor(actorDevice, id, created), app: app.id, uuid: hexID("device/" + app.slug + "/" + name),
		name: name, online: online, active: true, created: created,
	})
	return &st.devices[id-1]
}

// neverSeen marks a device that never connected: its
// last_connectivity_event is null.
const neverSeen time.Duration = -1

// lastSeen sets when d last connected, ago before now (neverSeen: never).
func (b *builder) lastSeen(d *device, ago time.Duration) {
	d.seen = ago != neverSeen
	if d.seen {
		d.lastSeen = b.ago(ago)
	}
}

// secret draws a key from the dataset's generator, so that seeded keys are
// stable across runs.
func (b *builder) secret() string {
	k := make([]byte, 32)
	for i := range k {
		k[i] = keyAlphabet[b.rng.IntN(len(keyAlphabet))]
	}
	return string(k)
}

// keySpec describes a seeded key; expiresIn 0 with never=false is invalid,
// so "never" is explicit.
type keySpec struct {
	name, desc string
	age        time.Duration // created this long ago
	expiresIn  time.Duration // relative to now; negative is expired
	never      bool
}

func (b *builder) key(actor int64, role string, k keySpec) {
	created := b.ago(k.age)
	ak := &apiKey{
		actor: actor, key: b.secret(), created: created, role: role,
		name: k.name, hasName: k.name != "", desc: k.desc, hasDesc: k.desc != "",
	}
	if !k.never {
		ak.hasExpiry, ak.expiry = true, b.now.Add(k.expiresIn).UnixMilli()
	}
	b.st.addKey(ak)
}

// people seeds the users and organizations every dataset shares.
func (b *builder) people() (admin, twofa, bob, eve *user, acme, globex int64) {
	admin = b.user(DemoUsername, DemoEmail, "", 700*day)
	twofa = b.user("twofa", Demo2FAEmail, Demo2FASecret, 600*day)
	bob = b.user("bob", DemoOtherEmail, "", 500*day)
	eve = b.user("eve", "eve@example.com", "", 400*day)
	acme = b.org("acme", "Acme Industries")
	globex = b.org("globex", "Globex Corporation")
	b.member(admin, acme, roleAdministrator)
	b.member(twofa, acme, roleMember)
	b.member(bob, acme, roleMember)
	b.member(eve, globex, roleAdministrator)
	return
}

func (b *builder) demo() {
	admin, twofa, bob, eve, acme, globex := b.people()
	balenaOS := b.org("balena_os", "balenaOS")

	plant1 := b.fleet(acme, "plant-1", 600*day)
	plant3 := b.fleet(acme, "plant-3", 500*day)
	warehouse := b.fleet(acme, "warehouse", 300*day)
	lab := b.fleet(acme, "lab", 90*day)
	hq := b.fleet(globex, "hq", 200*day)
	public := b.fleet(balenaOS, "raspberrypi4-64", 1000*day)
	public.public, public.host = true, true
	b.st.access = append(b.st.access, appAccess{twofa.id, plant3.id}, appAccess{bob.id, plant1.id})

	// Last contact: the online devices came online lately (hours to
	// weeks ago); of the others, sensor-a fell silent over 30 days ago,
	// gw-18 over 90, and forklift-7 never connected.
	devs := map[string]*device{}
	for _, d := range []struct {
		app    *application
		name   string
		age    time.Duration
		online bool
		seen   time.Duration // last contact this long ago; neverSeen: null
	}{
		{plant1, "gw-01", 550 * day, true, 3 * day}, {plant1, "gw-02", 540 * day, true, 12 * time.Hour}, {plant1, "sensor-a", 200 * day, false, 45 * day},
		{plant3, "gw-17", 480 * day, true, 20 * day}, {plant3, "gw-18", 470 * day, false, 120 * day}, {plant3, "press-ctrl", 120 * day, true, 2 * time.Hour},
		{warehouse, "scanner-1", 250 * day, true, 6 * day}, {warehouse, "forklift-7", 100 * day, false, neverSeen},
		{lab, "bench-1", 60 * day, true, day}, {hq, "hq-gw", 150 * day, true, 8 * day},
	} {
		devs[d.name] = b.device(d.app, d.name, d.age, d.online)
		b.lastSeen(devs[d.name], d.seen)
	}

	user := func(u *user, role string, k keySpec) { b.key(u.actor, role, k) }
	user(admin, roleNamedUserKey, keySpec{name: "ci-deploy", desc: "GitHub Actions deploys", age: 30 * day, expiresIn: 4 * day})
	user(admin, roleNamedUserKey, keySpec{name: "terraform", desc: "Infrastructure pipeline", age: 60 * day, expiresIn: 26 * time.Hour})
	user(admin, roleNamedUserKey, keySpec{name: "grafana-readonly", desc: "Dashboards", age: 200 * day, never: true})
	user(admin, roleNamedUserKey, keySpec{name: "backup-script", age: 45 * day, expiresIn: 365 * day})
	user(admin, roleNamedUserKey, keySpec{name: "old-laptop", desc: "Retired laptop", age: 400 * day, expiresIn: -10 * day})
	user(admin, roleUserKey, keySpec{age: 720 * day, never: true}) // legacy, unnamed
	user(twofa, roleNamedUserKey, keySpec{name: "2fa-key", desc: "Key of the 2FA user", age: 20 * day, never: true})
	user(bob, roleNamedUserKey, keySpec{name: "bob-laptop", age: 90 * day, never: true})
	user(bob, roleNamedUserKey, keySpec{name: "bob-ci", desc: "Bob's CI", age: 10 * day, expiresIn: 20 * day})
	user(eve, roleNamedUserKey, keySpec{name: "eve-key", age: 50 * day, never: true})

	prov := func(a *application, k keySpec) { b.key(a.actor, roleProvisioningKey, k) }
	prov(plant1, keySpec{name: "plant-1 provisioning", desc: "Line 1 rollout", age: 500 * day, never: true})
	prov(plant1, keySpec{name: "plant-1 batch 2024", age: 300 * day, expiresIn: -30 * day})
	prov(plant3, keySpec{name: "plant-3 prov", desc: "Press line", age: 40 * day, expiresIn: 6 * day})
	prov(plant3, keySpec{age: 450 * day, never: true})
	prov(warehouse, keySpec{name: "warehouse prov", age: 100 * day, expiresIn: 90 * day})
	prov(lab, keySpec{name: "lab bench prov", age: 30 * day, expiresIn: -2 * day})
	prov(hq, keySpec{name: "hq prov", age: 100 * day, never: true})
	prov(public, keySpec{name: "public prov", age: 900 * day, never: true})

	// Every device got an unnamed, never-expiring key when it registered.
	for i := range b.st.devices {
		d := &b.st.devices[i]
		b.key(d.actor, roleDeviceKey, keySpec{age: b.now.Sub(time.UnixMilli(d.created)), never: true})
	}
	b.key(devs["gw-17"].actor, roleDeviceKey, keySpec{name: "gw-17 rotated", age: 200 * day, expiresIn: -1 * day})
	b.key(devs["press-ctrl"].actor, roleDeviceKey, keySpec{name: "press-ctrl maintenance", desc: "Vendor access", age: 5 * day, expiresIn: 3 * day})
}

var words = []string{
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
	"kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
}

// large is 200 fleets of 100 devices, each device with a key, a
// provisioning key per fleet and 1,000 user keys over six users.
func (b *builder) large() {
	admin, twofa, bob, eve, acme, _ := b.people()
	carol := b.user("carol", "carol@example.com", "", 300*day)
	dave := b.user("dave", "dave@example.com", "", 200*day)
	b.member(carol, acme, roleMember)
	b.member(dave, acme, roleMember)

	expiry := func(k *keySpec) {
		switch b.rng.IntN(4) {
		case 0:
			k.never = true
		case 1:
			k.expiresIn = -time.Duration(1+b.rng.IntN(365)) * day
		case 2:
			k.expiresIn = time.Duration(1+b.rng.IntN(30*24)) * time.Hour
		default:
			k.expiresIn = time.Duration(31+b.rng.IntN(700)) * day
		}
	}
	for f := 0; f < 200; f++ {
		app := b.fleet(acme, fmt.Sprintf("fleet-%03d", f), time.Duration(400+f)*day)
		for d := 0; d < 100; d++ {
			name := fmt.Sprintf("%s-%s-%03d", words[b.rng.IntN(len(words))], words[b.rng.IntN(len(words))], d)
			d := b.device(app, name, time.Duration(1+b.rng.IntN(390))*day, b.rng.IntN(3) > 0)
			b.lastSeen(d, b.largeLastSeen(d))
		}
		k := keySpec{name: fmt.Sprintf("fleet-%03d provisioning", f), age: time.Duration(1+b.rng.IntN(400)) * day}
		expiry(&k)
		b.key(app.actor, roleProvisioningKey, k)
	}
	for i := range b.st.devices {
		d := &b.st.devices[i]
		k := keySpec{age: b.now.Sub(time.UnixMilli(d.created)), never: true}
		if i%10 == 0 {
			k = keySpec{name: "Device Key " + d.name, age: time.Duration(1+b.rng.IntN(300)) * day}
			expiry(&k)
		}
		b.key(d.actor, roleDeviceKey, k)
	}
	owners := []struct {
		u *user
		n int
	}{{admin, 400}, {bob, 250}, {carol, 150}, {dave, 100}, {twofa, 50}, {eve, 50}}
	for _, o := range owners {
		for i := 0; i < o.n; i++ {
			k := keySpec{
				name: fmt.Sprintf("%s %s key %04d", words[b.rng.IntN(len(words))], o.u.username, i),
				age:  time.Duration(1+b.rng.IntN(700)) * day,
			}
			if b.rng.IntN(2) == 0 {
				k.desc = "Generated for " + words[b.rng.IntN(len(words))]
			}
			expiry(&k)
			b.key(o.u.actor, roleNamedUserKey, k)
		}
	}
}

// largeLastSeen spreads the large dataset's last contacts without drawing
// from the dataset's generator (which would change every key after it):
// online devices came online within three days; of the others, one in
// ten never connected, three in ten have been silent 31 to 390 days, and
// the rest up to four weeks; never before the device was made.
func (b *builder) largeLastSeen(d *device) time.Duration {
	n := time.Duration(d.id * 7919 % 1000)
	var ago time.Duration
	switch {
	case d.online:
		ago = n * 72 * time.Hour / 1000
	case d.id%10 == 0:
		return neverSeen
	case d.id%10 <= 3:
		ago = 31*day + n*360*day/1000
	default:
		ago = n * 28 * day / 1000
	}
	return min(ago, b.now.Sub(time.UnixMilli(d.created)))
}

// finish builds the indexes that seeding leaves out, and lays the keys and
// their texts out contiguously: a query scans every visible key, and on the
// large dataset memory locality, not evaluation, decides its speed.
func (st *store) finish() {
	st.devicesByApp = make([][]int32, len(st.apps))
	for i, d := range st.devices {
		st.devicesByApp[d.app-1] = append(st.devicesByApp[d.app-1], int32(i))
	}
	size := 0
	for _, k := range st.keys {
		size += len(k.name) + len(k.desc)
	}
	var arena strings.Builder
	arena.Grow(size)
	for _, k := range st.keys {
		arena.WriteString(k.name)
		arena.WriteString(k.desc)
	}
	texts, at := arena.String(), 0
	slab := make([]apiKey, len(st.keys))
	for i, k := range st.keys {
		slab[i] = *k
		slab[i].name = texts[at : at+len(k.name)]
		at += len(k.name)
		slab[i].desc = texts[at : at+len(k.desc)]
		at += len(k.desc)
		st.keys[i] = &slab[i]
		st.keyByID[k.id] = &slab[i]
		st.keyBySecret[k.key] = &slab[i]
	}
	st.reindexKeys()
}
