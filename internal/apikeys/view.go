package apikeys

import (
	"time"

	"github.com/keyportal/keyportal/apiclient"
)

// View is a key as people see it, whatever shows it: the keys table, an
// export, an alert. It never holds a secret (balena never hands one out
// after creation).
type View struct {
	ID          int64
	Name        string
	Kind        apiclient.KeyKind // "" when balena did not say
	Owner       string            // see Owner; "you" is the reader's business
	OwnerDetail string            // a named device's short uuid
	Mine        bool              // a user key of the reader's own account
	Description string
	CreatedAt   time.Time
	ExpiryDate  *time.Time // nil: never expires
	Status      Status
	// LastSeen says when a device key's device last contacted balena;
	// the zero value for other kinds.
	LastSeen LastSeen
}

// LastSeen is a device's connectivity as the keys page shows it.
type LastSeen struct {
	Device bool       // a device key: the rest means something
	Online bool       // online now
	At     *time.Time // when it last came online or went offline; nil: never seen
}

// ViewOf is k as seen at now by the account me.
func ViewOf(k apiclient.APIKey, me apiclient.Identity, now time.Time) View {
	v := View{
		ID: k.ID, Name: k.Name, Kind: k.Kind, Owner: Owner(k), Description: k.Description,
		CreatedAt: k.CreatedAt, ExpiryDate: k.ExpiryDate, Status: StatusOf(k, now, DefaultWarn),
	}
	switch k.Kind {
	case apiclient.KindUser:
		v.Mine = me.ActorID != 0 && k.Owner.ActorID == me.ActorID
	case apiclient.KindDevice:
		if k.Owner.DeviceName != "" {
			v.OwnerDetail = ShortUUID(k.Owner.DeviceUUID)
		}
		v.LastSeen = LastSeen{Device: true, Online: k.Owner.DeviceOnline, At: k.Owner.DeviceLastSeen}
	}
	return v
}
