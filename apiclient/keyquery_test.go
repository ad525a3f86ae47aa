package apiclient

import (
	"slices"
	"testing"
	"time"
)

func TestKeyQueryValidate(t *testing.T) {
	bad := []KeyQuery{
		{Kinds: []KeyKind{"fleet"}},
		{Status: "stale"},
		{Status: StatusExpiring, WithinDays: -1},
		{Sort: "key"},
		{Top: -1},
		{Skip: -1},
		{Text: "\xff"},
		{Text: string(make([]byte, maxTextLen+1))},
	}
	for _, q := range bad {
		if err := q.validate("op"); ErrorCode(err) != CodeInvalid {
			t.Errorf("validate(%+v) = %v, want invalid", q, err)
		}
	}
	good := KeyQuery{Kinds: []KeyKind{KindUser}, Status: StatusExpiring, Sort: SortExpiry, Top: 50, Text: "ok"}
	if err := good.validate("op"); err != nil {
		t.Errorf("validate(%+v) = %v", good, err)
	}
}

func TestKeyQueryOrderBy(t *testing.T) {
	tests := []struct {
		q    KeyQuery
		want []string
	}{
		{KeyQuery{}, []string{"created_at desc", "id desc"}},
		{KeyQuery{Sort: SortCreatedAt}, []string{"created_at asc", "id asc"}},
		{KeyQuery{Sort: SortName}, []string{"name asc", "id asc"}},
		{KeyQuery{Sort: SortExpiry, Desc: true}, []string{"expiry_date desc", "id desc"}},
	}
	for _, tt := range tests {
		if got := tt.q.orderBy(); !slices.Equal(got, tt.want) {
			t.Errorf("orderBy(%+v) = %v, want %v", tt.q, got, tt.want)
		}
	}
}

func TestKeyQueryFilters(t *testing.T) {
	day := time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC)
	ax := &actorSet{
		me:      Identity{ActorID: 2, ActorType: "user"},
		fleets:  []Fleet{{ID: 1, Slug: "acme/one", AppName: "one", ActorID: 10}, {ID: 2, Slug: "acme/two", AppName: "two", ActorID: 11}},
		devices: []Device{{ID: 5, UUID: "abc", FleetID: 1, ActorID: 20}, {ID: 6, UUID: "def", FleetID: 1, ActorID: 21}},
	}
	tests := []struct {
		name   string
		q      KeyQuery
		named  []Device // what resolve found for q.Device
		silent []Device // what resolve found for q.SeenBefore
		lambda string
		actor  string
		none   bool
	}{
		{name: "zero", q: KeyQuery{}},
		{
			name:   "text",
			q:      KeyQuery{Text: "O'B&"},
			lambda: "(contains(tolower(name),'o''b%26') or contains(tolower(description),'o''b%26'))",
			actor:  "(contains(tolower(name),'o''b%26') or contains(tolower(description),'o''b%26'))",
		},
		{
			name:   "text outside ASCII",
			q:      KeyQuery{Text: "Ä"},
			lambda: "(contains(tolower(name),tolower('%C3%84')) or contains(tolower(description),tolower('%C3%84')))",
			actor:  "(contains(tolower(name),tolower('%C3%84')) or contains(tolower(description),tolower('%C3%84')))",
		},
		{
			name:   "active",
			q:      KeyQuery{Status: StatusActive},
			lambda: "(expiry_date eq null or expiry_date gt now())",
			actor:  "(expiry_date eq null or expiry_date gt now())",
		},
		{
			name:   "expired",
			q:      KeyQuery{Status: StatusExpired},
			lambda: "(expiry_date ne null and expiry_date le now())",
			actor:  "(expiry_date ne null and expiry_date le now())",
		},
		{
			name:   "expiring default window",
			q:      KeyQuery{Status: StatusExpiring},
			lambda: "(expiry_date gt now() and expiry_date le now() add duration'P7D')",
			actor:  "(expiry_date gt now() and expiry_date le now() add duration'P7D')",
		},
		{
			name:   "never and dates",
			q:      KeyQuery{Status: StatusNever, CreatedAfter: &day, CreatedBefore: &day},
			lambda: "(expiry_date eq null and created_at ge datetime'2025-01-31T12:00:00.000Z' and created_at lt datetime'2025-01-31T12:00:00.000Z')",
			actor:  "(expiry_date eq null and created_at ge datetime'2025-01-31T12:00:00.000Z' and created_at lt datetime'2025-01-31T12:00:00.000Z')",
		},
		{
			name:   "expiry range",
			q:      KeyQuery{ExpiresAfter: &day, ExpiresBefore: &day},
			lambda: "(expiry_date ge datetime'2025-01-31T12:00:00.000Z' and expiry_date lt datetime'2025-01-31T12:00:00.000Z')",
			actor:  "(expiry_date ge datetime'2025-01-31T12:00:00.000Z' and expiry_date lt datetime'2025-01-31T12:00:00.000Z')",
		},
		{name: "all kinds is no filter", q: KeyQuery{Kinds: []KeyKind{KindDevice, KindUser, KindProvisioning}}},
		{
			name:   "user kind",
			q:      KeyQuery{Kinds: []KeyKind{KindUser}},
			lambda: "is_of__actor/any(a:" + isUserKey + ")",
			actor:  "is_of__actor eq 2",
		},
		{
			name:   "provisioning or device",
			q:      KeyQuery{Kinds: []KeyKind{KindDevice, KindProvisioning}},
			lambda: "is_of__actor/any(a:(" + isProvisioningKey + " or " + isDeviceKey + "))",
			actor:  "(is_of__actor in (10,11) or not(is_of__actor in (2,10,11)))",
		},
		{
			name:   "fleet and text",
			q:      KeyQuery{Fleet: "acme/one", Text: "x"},
			lambda: "((contains(tolower(name),'x') or contains(tolower(description),'x')) and is_of__actor/any(a:(a/is_of__application/any(f:(f/slug eq 'acme%2Fone' or f/app_name eq 'acme%2Fone')) or a/is_of__device/any(d:d/belongs_to__application/any(df:(df/slug eq 'acme%2Fone' or df/app_name eq 'acme%2Fone'))))))",
			actor:  "((contains(tolower(name),'x') or contains(tolower(description),'x')) and is_of__actor in (10,20,21))",
		},
		{
			name:   "device",
			q:      KeyQuery{Device: "def"},
			named:  []Device{{ID: 6, UUID: "def", FleetID: 1, ActorID: 21}},
			lambda: "is_of__actor/any(a:a/is_of__device/any(d:d/device_name eq 'def'))",
			actor:  "is_of__actor eq 21",
		},
		{
			name:   "a fleet by name",
			q:      KeyQuery{Fleet: "two"},
			lambda: "is_of__actor/any(a:(a/is_of__application/any(f:(f/slug eq 'two' or f/app_name eq 'two')) or a/is_of__device/any(d:d/belongs_to__application/any(df:(df/slug eq 'two' or df/app_name eq 'two')))))",
			actor:  "is_of__actor eq 11",
		},
		{
			name:   "a device by name or uuid prefix, of several devices",
			q:      KeyQuery{Device: "ABCDEF0"},
			named:  []Device{{ID: 5, UUID: "abcdef0aa", ActorID: 20}, {ID: 7, UUID: "ff", DeviceName: "ABCDEF0", ActorID: 22}},
			lambda: "is_of__actor/any(a:a/is_of__device/any(d:(d/device_name eq 'ABCDEF0' or startswith(d/uuid,'abcdef0'))))",
			actor:  "is_of__actor in (20,22)",
		},
		{
			name:   "a number is also an id",
			q:      KeyQuery{Text: "20007"},
			lambda: "(id eq 20007 or contains(tolower(name),'20007') or contains(tolower(description),'20007'))",
			actor:  "(id eq 20007 or contains(tolower(name),'20007') or contains(tolower(description),'20007'))",
		},
		{
			name:   "a signed or huge number is text only",
			q:      KeyQuery{Text: "+7"},
			lambda: "(contains(tolower(name),'%2B7') or contains(tolower(description),'%2B7'))",
			actor:  "(contains(tolower(name),'%2B7') or contains(tolower(description),'%2B7'))",
		},
		{name: "unknown fleet", q: KeyQuery{Fleet: "acme/none"}, lambda: "is_of__actor/any(a:(a/is_of__application/any(f:(f/slug eq 'acme%2Fnone' or f/app_name eq 'acme%2Fnone')) or a/is_of__device/any(d:d/belongs_to__application/any(df:(df/slug eq 'acme%2Fnone' or df/app_name eq 'acme%2Fnone')))))", none: true},
		{name: "unknown device", q: KeyQuery{Device: "zzz"}, lambda: "is_of__actor/any(a:a/is_of__device/any(d:d/device_name eq 'zzz'))", none: true},
		{
			name:   "seen before: offline devices last seen before the day, or never",
			q:      KeyQuery{SeenBefore: &day},
			silent: []Device{{ID: 5, ActorID: 20}, {ID: 6, ActorID: 21}},
			lambda: "is_of__actor/any(a:a/is_of__device/any(d:(d/is_online eq false and (d/last_connectivity_event eq null or d/last_connectivity_event lt datetime'2025-01-31T12:00:00.000Z'))))",
			actor:  "is_of__actor in (20,21)",
		},
		{
			name:   "seen before, with a fleet, a device kind and a status",
			q:      KeyQuery{SeenBefore: &day, Fleet: "acme/one", Kinds: []KeyKind{KindDevice}, Status: StatusNever},
			silent: []Device{{ID: 6, ActorID: 21}},
			lambda: "(expiry_date eq null and is_of__actor/any(a:" + isDeviceKey + ") and is_of__actor/any(a:(a/is_of__application/any(f:(f/slug eq 'acme%2Fone' or f/app_name eq 'acme%2Fone')) or a/is_of__device/any(d:d/belongs_to__application/any(df:(df/slug eq 'acme%2Fone' or df/app_name eq 'acme%2Fone'))))) and is_of__actor/any(a:a/is_of__device/any(d:(d/is_online eq false and (d/last_connectivity_event eq null or d/last_connectivity_event lt datetime'2025-01-31T12:00:00.000Z')))))",
			actor:  "(expiry_date eq null and not(is_of__actor in (2,10,11)) and is_of__actor in (10,20,21) and is_of__actor eq 21)",
		},
		{name: "seen before, no silent device", q: KeyQuery{SeenBefore: &day}, lambda: "is_of__actor/any(a:a/is_of__device/any(d:(d/is_online eq false and (d/last_connectivity_event eq null or d/last_connectivity_event lt datetime'2025-01-31T12:00:00.000Z'))))", none: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.q.lambdaFilter(); got != tt.lambda {
				t.Errorf("lambdaFilter =\n %s\nwant\n %s", got, tt.lambda)
			}
			ax := *ax
			ax.named, ax.silent = tt.named, tt.silent
			got, none := tt.q.actorFilter(&ax)
			if none != tt.none || (!none && got != tt.actor) {
				t.Errorf("actorFilter = %s, %v\nwant %s, %v", got, none, tt.actor, tt.none)
			}
		})
	}
}

func TestProvisioningKindWithoutFleetsMatchesNothing(t *testing.T) {
	ax := &actorSet{me: Identity{ActorID: 2, ActorType: "user"}}
	if _, none := (KeyQuery{Kinds: []KeyKind{KindProvisioning}}).actorFilter(ax); !none {
		t.Error("provisioning keys of no fleets should match nothing")
	}
	f, none := (KeyQuery{Kinds: []KeyKind{KindProvisioning, KindDevice}}).actorFilter(ax)
	if none || f != "not(is_of__actor eq 2)" {
		t.Errorf("got %q, %v", f, none)
	}
}
