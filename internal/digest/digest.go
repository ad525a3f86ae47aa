// Package digest tells a team, on a schedule, which API keys are about to
// expire and which expired since the last time: for teams that run no
// Prometheus. It reads keys with the watcher's credential through
// apiclient, judges them with the domain's rules (apikeys), and sends
// through a webhook (Slack, Mattermost, Rocket.Chat) and/or email. With
// several replicas a Ledger (Redis, or a lock file on one host) makes each
// scheduled digest go out once, and one missed while every replica was
// down go out at the next start.
//
// It knows nothing of HTTP requests: links to the portal are built from
// the keys page's address with apikeys.Filter, the one spelling of a view.
package digest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
)

// Digest is what one digest says. It never holds a secret: keys are read
// with apiclient, which never selects one.
type Digest struct {
	At      time.Time // when it was built
	Since   time.Time // expired keys are those that expired after this and by At
	Windows []Window  // each key under the nearest window it falls in
	Expired Section
}

// Window is the keys that expire within Within of At, and not within a
// shorter window.
type Window struct {
	Within time.Duration
	Section
}

// Section is some keys, grouped by kind and fleet.
type Section struct {
	Groups []Group
	Total  int // keys in the section, listed or not
	Listed int // keys listed; fewer than Total when there were too many to read
}

// Group is the keys of one kind and fleet in a section.
type Group struct {
	Kind  apiclient.KeyKind `json:"kind"`
	Fleet string            `json:"fleet"` // the fleet's slug; "" for user keys, or a device whose fleet is unknown
	Link  string            `json:"link"`  // the portal's view of them
	Keys  []Entry           `json:"keys"`
}

// Entry is one key as a digest names it.
type Entry struct {
	ID      int64     `json:"id"`
	Title   string    `json:"title"` // its name, or what it is (apikeys.Title)
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires_at"`
	Link    string    `json:"link"` // the portal's view of this key
}

// Empty reports whether nothing is due.
func (d Digest) Empty() bool {
	for _, w := range d.Windows {
		if w.Total > 0 {
			return false
		}
	}
	return d.Expired.Total == 0
}

// Expiring is how many keys expire within the widest window.
func (d Digest) Expiring() int {
	n := 0
	for _, w := range d.Windows {
		n += w.Total
	}
	return n
}

// Builder reads what a digest needs from balena.
type Builder struct {
	balena  *apiclient.Session
	within  []time.Duration
	keysURL string
}

// NewBuilder reads keys as session, for the windows within (ascending),
// linking to the keys page at keysURL (absolute).
func NewBuilder(session *apiclient.Session, within []time.Duration, keysURL string) *Builder {
	if len(within) == 0 {
		within = []time.Duration{apikeys.DefaultWarn}
	}
	return &Builder{balena: session, within: within, keysURL: keysURL}
}

// maxKeys bounds the keys a section lists: a digest is a message, and the
// links lead to the full views.
const maxKeys = 500

// Build reads the digest at now of the keys expiring within the windows
// and those that expired after since: two lists, plus the fleets of device
// keys when there are any.
func (b *Builder) Build(ctx context.Context, now, since time.Time) (Digest, error) {
	d := Digest{At: now, Since: since}
	widest := b.within[len(b.within)-1]
	// balena keeps milliseconds: "after t" is "at or after t's next millisecond".
	soon, err := b.list(ctx, apiclient.KeyQuery{ExpiresAfter: ptr(nextMilli(now)), ExpiresBefore: ptr(nextMilli(now.Add(widest)))})
	if err != nil {
		return Digest{}, err
	}
	gone, err := b.list(ctx, apiclient.KeyQuery{ExpiresAfter: ptr(nextMilli(since)), ExpiresBefore: ptr(nextMilli(now))})
	if err != nil {
		return Digest{}, err
	}
	fleets, err := b.deviceFleets(ctx, append(slices.Clone(soon.Keys), gone.Keys...))
	if err != nil {
		return Digest{}, err
	}
	byWindow := make([][]apiclient.APIKey, len(b.within))
	for _, k := range soon.Keys {
		for i, w := range b.within {
			if apikeys.StatusOf(k, now, w) == apikeys.StatusExpiring {
				byWindow[i] = append(byWindow[i], k)
				break
			}
		}
	}
	for i, w := range b.within {
		days := int((w + 24*time.Hour - 1) / (24 * time.Hour))
		link := func(f apikeys.Filter) apikeys.Filter {
			f.Status, f.Within, f.Sort, f.Desc = apiclient.StatusExpiring, days, apiclient.SortExpiry, false
			return f
		}
		d.Windows = append(d.Windows, Window{Within: w, Section: b.section(byWindow[i], now, fleets, link)})
	}
	// The windows share the list's total: what was not read is past the last one.
	if last := &d.Windows[len(d.Windows)-1]; soon.Total > len(soon.Keys) {
		last.Total += soon.Total - len(soon.Keys)
	}
	var expired []apiclient.APIKey
	for _, k := range gone.Keys {
		if apikeys.StatusOf(k, now, 0) == apikeys.StatusExpired {
			expired = append(expired, k)
		}
	}
	sinceDay := since.UTC().Truncate(24 * time.Hour)
	d.Expired = b.section(expired, now, fleets, func(f apikeys.Filter) apikeys.Filter {
		f.Status, f.ExpiresAfter, f.Sort, f.Desc = apiclient.StatusExpired, &sinceDay, apiclient.SortExpiry, true
		return f
	})
	d.Expired.Total += gone.Total - len(gone.Keys)
	return d, nil
}

// list reads up to maxKeys keys of q, soonest expiry first.
func (b *Builder) list(ctx context.Context, q apiclient.KeyQuery) (apiclient.KeyPage, error) {
	q.Sort, q.Top = apiclient.SortExpiry, maxKeys
	return b.balena.ListKeys(ctx, q)
}

// deviceFleets maps the actor of each device key to its fleet's slug.
func (b *Builder) deviceFleets(ctx context.Context, keys []apiclient.APIKey) (map[int64]string, error) {
	var actors []int64
	for _, k := range keys {
		if k.Kind == apiclient.KindDevice && !slices.Contains(actors, k.Owner.ActorID) {
			actors = append(actors, k.Owner.ActorID)
		}
	}
	if len(actors) == 0 {
		return nil, nil
	}
	fleets, err := b.balena.Fleets(ctx)
	if err != nil {
		return nil, err
	}
	slug := map[int64]string{}
	for _, f := range fleets {
		slug[f.ID] = f.Slug
	}
	out := map[int64]string{}
	for chunk := range slices.Chunk(actors, 100) { // URLs are not unlimited
		devices, err := b.balena.DevicesByActor(ctx, chunk...)
		if err != nil {
			return nil, err
		}
		for _, dev := range devices {
			out[dev.ActorID] = slug[dev.FleetID]
		}
	}
	return out, nil
}

// section groups keys by kind (the portal's order) and fleet, each group
// linking to its view as view makes it from the group's filter.
func (b *Builder) section(keys []apiclient.APIKey, now time.Time, deviceFleets map[int64]string, view func(apikeys.Filter) apikeys.Filter) Section {
	s := Section{Total: len(keys), Listed: len(keys)}
	at := map[[2]string]int{}
	for _, k := range keys {
		v := apikeys.ViewOf(k, apiclient.Identity{}, now)
		fleet := ""
		switch k.Kind {
		case apiclient.KindProvisioning:
			fleet = k.Owner.FleetSlug
		case apiclient.KindDevice:
			fleet = deviceFleets[k.Owner.ActorID]
		}
		id := [2]string{string(k.Kind), fleet}
		i, ok := at[id]
		if !ok {
			f := apikeys.NewFilter()
			if k.Kind != "" {
				f.Kinds = []apiclient.KeyKind{k.Kind}
			}
			f.Fleet = fleet
			i, at[id] = len(s.Groups), len(s.Groups)
			s.Groups = append(s.Groups, Group{Kind: k.Kind, Fleet: fleet, Link: view(f).URL(b.keysURL)})
		}
		owner := v.Owner
		if v.OwnerDetail != "" {
			owner += " (" + v.OwnerDetail + ")"
		}
		// The key's own page: a search for its id would also list every
		// key whose name holds that number.
		link := b.keysURL + "/" + fmt.Sprint(k.ID)
		s.Groups[i].Keys = append(s.Groups[i].Keys, Entry{ID: k.ID, Title: apikeys.Title(k), Owner: owner, Expires: *k.ExpiryDate, Link: link})
	}
	order := func(k apiclient.KeyKind) int {
		if i := slices.Index(apikeys.Kinds, k); i >= 0 {
			return i
		}
		return len(apikeys.Kinds)
	}
	slices.SortStableFunc(s.Groups, func(a, b Group) int {
		return cmp.Or(cmp.Compare(order(a.Kind), order(b.Kind)), cmp.Compare(a.Fleet, b.Fleet))
	})
	return s
}

func ptr[T any](v T) *T { return &v }

// nextMilli is the first millisecond after t.
func nextMilli(t time.Time) time.Time { return t.Truncate(time.Millisecond).Add(time.Millisecond) }
