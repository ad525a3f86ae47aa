// Package apiclient is the only code in Keyportal that speaks to the balena API.
//
// It knows balena's URLs, its OData dialect (quoting, precedence, null rules),
// its error bodies and its authentication, so that the rest of the portal
// deals in typed values: an Identity, a page of APIKeys, a typed *Error.
//
// A Client holds the connection pool and settings and is shared by all
// requests; Client.As binds a caller's token for one request's calls, and
// Session.WithIdentity hands it an Identity the portal cached at sign-in.
//
// Every call has a deadline (Options.Timeout, retries included). Reads are
// retried on 429, 502, 503, 504 and broken connections while the deadline
// allows, honouring Retry-After; writes never are. Every failure is an
// *Error whose Code says what the portal should tell the user; its text
// never contains a token.
//
// Keys come with their owner and kind in the same request where balena lets
// the caller read actor (balenaCloud). Where it does not (open-balena), the
// Client notices once, remembers it, and filters by actor ids instead.
//
// Answers are decoded with segmentio/encoding/json, a drop-in for
// encoding/json that reads a page of 50 keys with their owners in about a
// third of the time; decoding was a quarter of a keys page's CPU.
package apiclient

import "time"

// KeyKind says what a key belongs to. balena does not store it: it follows
// from the key's actor (a user, a fleet or a device).
type KeyKind string

const (
	KindUser         KeyKind = "user"
	KindProvisioning KeyKind = "provisioning"
	KindDevice       KeyKind = "device"
)

// Identity is the signed-in actor, from /actor/v1/whoami.
type Identity struct {
	ActorID     int64  // what api_key.is_of__actor points at
	ActorType   string // "user", "application" or "device"
	ActorTypeID int64  // user id, fleet id or device id
	Username    string
	Email       string
	Slug        string // fleet keys
	UUID        string // device keys
}

// Claims are the parts of a balena session JWT the portal reads for display
// and timing only; they are never trusted for authorisation.
type Claims struct {
	UserID            int64
	AuthTime          time.Time // when the password was last entered (freshness)
	IssuedAt          time.Time
	Expires           time.Time
	TwoFactorRequired bool // a partial login waiting for its TOTP code
}

// Owner names whatever a key belongs to.
type Owner struct {
	ActorID    int64
	Username   string // user keys
	FleetID    int64  // provisioning keys
	FleetSlug  string
	DeviceID   int64 // device keys
	DeviceUUID string
	DeviceName string
	// The device's connectivity: online now, or when it last came online
	// or went offline (balena's last_connectivity_event, the dashboard's
	// "Last seen"; nil: never). balena keeps no "last used" for keys;
	// for a device key this is the best evidence there is.
	DeviceOnline   bool
	DeviceLastSeen *time.Time
}

// APIKey is one row of /v7/api_key. It never carries the secret.
type APIKey struct {
	ID          int64
	Name        string // "" when balena has null
	Description string
	CreatedAt   time.Time
	ExpiryDate  *time.Time // nil: never expires
	Kind        KeyKind    // "" when it could not be told
	Owner       Owner
}

// Expired reports whether the key no longer authenticates at time now.
func (k APIKey) Expired(now time.Time) bool {
	return k.ExpiryDate != nil && !k.ExpiryDate.After(now)
}

// Fleet is an application the caller can reach directly.
type Fleet struct {
	ID      int64
	Slug    string
	AppName string
	ActorID int64
}

// Device is a device with the actor its keys point at.
type Device struct {
	ID         int64
	UUID       string
	DeviceName string
	FleetID    int64
	ActorID    int64
	Online     bool
	LastSeen   *time.Time // last_connectivity_event; nil: never seen
}

// Status filters keys by their expiry.
type Status string

const (
	StatusAny      Status = ""
	StatusActive   Status = "active"   // no expiry, or expiry in the future
	StatusExpired  Status = "expired"  // expiry in the past
	StatusExpiring Status = "expiring" // expiry within KeyQuery.WithinDays days from now
	StatusNever    Status = "never"    // no expiry
)

// SortField is a column balena sorts keys by.
type SortField string

const (
	SortName      SortField = "name"
	SortCreatedAt SortField = "created_at"
	SortExpiry    SortField = "expiry_date"
)

// KeyQuery is a typed view of /v7/api_key; it compiles to $filter,
// $orderby, $top and $skip (and /$count). The zero value lists every
// visible key, newest first. Conditions combine with "and".
//
// Date ranges include their After bound and exclude their Before bound;
// an expiry range never matches keys that do not expire. Every sort ends
// with the key id in the same direction, so pages are stable.
type KeyQuery struct {
	Kinds         []KeyKind // any of these; empty: all kinds
	Fleet         string    // keys of the fleets with this slug or name, and of their devices
	Device        string    // keys of the devices with this exact name, or whose uuid starts with this (7+ hex characters)
	Text          string    // substring of name or description, case-insensitive
	Status        Status
	WithinDays    int // for StatusExpiring; 0 means DefaultWithinDays
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	ExpiresAfter  *time.Time
	ExpiresBefore *time.Time
	// SeenBefore keeps the device keys whose device is offline and was
	// last seen before this moment, or never: keys of silent devices.
	// Other kinds never match it.
	SeenBefore *time.Time
	Breaking   *Limits   // keys that break these limits; nil: no such condition
	Sort       SortField // "": created_at descending, whatever Desc says
	Desc       bool
	Top        int // page size; 0 means no $top
	Skip       int
}

// Limits are bounds a key may break: a key breaks them when it has no
// expiry or one after LatestExpiry (when set), or when Description is set
// and it has no description. Any one suffices.
type Limits struct {
	LatestExpiry *time.Time
	Description  bool
}

// KeyPage is one page of keys and the total the query matches.
type KeyPage struct {
	Keys  []APIKey
	Total int
}

// NewKey describes a key to create. ExpiryDate nil means never.
type NewKey struct {
	Name        string
	Description string
	ExpiryDate  *time.Time
}

// KeyUpdate changes a key; nil fields are left alone. Set ClearExpiry to
// make a key never expire.
type KeyUpdate struct {
	Name        *string
	Description *string
	ExpiryDate  *time.Time
	ClearExpiry bool
}
