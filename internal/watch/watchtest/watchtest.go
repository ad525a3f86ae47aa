// Package watchtest computes, from the balena stand-in's own records, the
// figures the watcher should read, for tests of the watcher and of
// /metrics.
package watchtest

import (
	"strings"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/watch"
)

// Expected is what the demo admin watches on balenaCloud's profile (own
// user keys, and the keys of acme's fleets and their devices) at now, by
// the domain's StatusOf.
func Expected(sim *balenasim.Sim, now time.Time, warn time.Duration) watch.Figures {
	f := watch.Figures{Keys: map[apiclient.KeyKind]map[apikeys.Status]int{}, NextExpiry: map[apiclient.KeyKind]time.Time{}, At: now}
	for _, k := range apikeys.Kinds {
		f.Keys[k] = map[apikeys.Status]int{}
	}
	for _, r := range sim.Keys() {
		if !Watched(r) {
			continue
		}
		kind := apiclient.KeyKind(r.Kind)
		f.Keys[kind][apikeys.StatusOf(apiclient.APIKey{ExpiryDate: r.ExpiryDate}, now, warn)]++
		if r.ExpiryDate != nil && r.ExpiryDate.After(now) {
			if cur, ok := f.NextExpiry[kind]; !ok || r.ExpiryDate.Before(cur) {
				f.NextExpiry[kind] = *r.ExpiryDate
			}
		}
	}
	return f
}

// Watched reports whether the demo admin sees r on balenaCloud's profile:
// their own user keys, and the keys of acme's fleets and their devices.
func Watched(r balenasim.KeyRecord) bool {
	if r.Kind == balenasim.KindUser {
		return r.OwnerEmail == balenasim.DemoEmail
	}
	return strings.HasPrefix(r.FleetSlug, "acme/")
}
