package apikeys

import (
	"strconv"

	"github.com/keyportal/keyportal/apiclient"
)

// Kinds are the kinds of key, in the order the portal lists them.
var Kinds = []apiclient.KeyKind{apiclient.KindUser, apiclient.KindProvisioning, apiclient.KindDevice}

// ParseKind reads a kind as a URL or form writes it.
func ParseKind(s string) (apiclient.KeyKind, bool) {
	switch k := apiclient.KeyKind(s); k {
	case apiclient.KindUser, apiclient.KindProvisioning, apiclient.KindDevice:
		return k, true
	}
	return "", false
}

// Owner names whatever k belongs to: a username, a fleet slug, a device's
// name (or, unnamed, its short uuid), or "actor N" when balena did not say.
func Owner(k apiclient.APIKey) string {
	switch k.Kind {
	case apiclient.KindUser:
		return k.Owner.Username
	case apiclient.KindProvisioning:
		return k.Owner.FleetSlug
	case apiclient.KindDevice:
		if k.Owner.DeviceName != "" {
			return k.Owner.DeviceName
		}
		return ShortUUID(k.Owner.DeviceUUID)
	}
	return "actor " + strconv.FormatInt(k.Owner.ActorID, 10)
}

// Title names k on its own, as a control's label does: its name, or
// what it is.
func Title(k apiclient.APIKey) string {
	if k.Name != "" {
		return k.Name
	}
	return "unnamed " + string(k.Kind) + " key of " + Owner(k)
}

// Label names k in a sentence: its name in quotes, or what it is.
func Label(k apiclient.APIKey) string {
	if k.Name != "" {
		return "“" + k.Name + "”"
	}
	return "the " + Title(k)
}

// ShortUUID is a device uuid as balena's dashboard shows it: 7 characters.
func ShortUUID(u string) string {
	if len(u) > 7 {
		return u[:7]
	}
	return u
}
