package apikeys

import (
	"time"

	"github.com/keyportal/keyportal/apiclient"
)

// balena keeps no "last used" for keys. For a device key, the device's own
// last contact with balena is the best evidence there is of whether the
// key is still in use: a device offline for weeks, or never seen, holds a
// key that nobody may need any more.

// StaleDays is how long a device must have been silent for its keys to
// count as stale (the overview's list, and its link to the keys page).
const StaleDays = 30

// StaleSince is the first day that does not make a device stale at now:
// a device last seen before it (UTC midnight, StaleDays days before the
// day of now), or never, is stale. It is a day, not a moment, so that the
// same view is the same URL (seen_before=YYYY-MM-DD) all day long.
func StaleSince(now time.Time) time.Time {
	return Day(now).AddDate(0, 0, -StaleDays)
}

// SeenBefore is the query of the device keys whose device is offline and
// was last seen before day, or never. Kinds is set to devices: other
// kinds have no last contact.
func SeenBefore(day time.Time) apiclient.KeyQuery {
	return apiclient.KeyQuery{Kinds: []apiclient.KeyKind{apiclient.KindDevice}, SeenBefore: &day}
}

// Silent reports whether k is a key that SeenBefore(day) selects: the
// rule the query asks balena to apply, for keys already loaded.
func Silent(k apiclient.APIKey, day time.Time) bool {
	last := k.Owner.DeviceLastSeen
	return k.Kind == apiclient.KindDevice && !k.Owner.DeviceOnline && (last == nil || last.Before(day))
}
