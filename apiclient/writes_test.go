package apiclient

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
)

func ptr[T any](v T) *T { return &v }

func TestCreateKeys(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			e := newEnv(t, balenasim.Options{Profile: p})
			s := e.session(t, balenasim.DemoEmail)
			expiry := e.now.Add(30 * 24 * time.Hour)
			tests := []struct {
				name   string
				create func() (string, error)
				key    string // its name
				kind   balenasim.KeyKind
				owner  string
				actor  string // whoami actorType of the new key
			}{
				{"user", func() (string, error) {
					return s.CreateUserKey(ctx(t), NewKey{Name: "ci", Description: "for CI", ExpiryDate: &expiry})
				}, "ci", balenasim.KindUser, balenasim.DemoUsername, "user"},
				{"provisioning", func() (string, error) {
					return s.CreateProvisioningKey(ctx(t), e.fleetID(t, "acme/lab"), NewKey{Name: "lab", Description: "for CI", ExpiryDate: &expiry})
				}, "lab", balenasim.KindProvisioning, "acme/lab", "application"},
				{"device", func() (string, error) {
					return s.CreateDeviceKey(ctx(t), e.device(t, "bench-1").DeviceID, NewKey{Name: "bench", Description: "for CI", ExpiryDate: &expiry})
				}, "bench", balenasim.KindDevice, "bench-1", "device"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					// An older key of the same name and owner, which
					// NewestKeyID must not take for the new one.
					if _, err := tt.create(); err != nil {
						t.Fatal(err)
					}
					secret, err := tt.create()
					if err != nil {
						t.Fatal(err)
					}
					k := e.findKey(t, secret)
					owner := map[balenasim.KeyKind]string{
						balenasim.KindUser: k.OwnerUsername, balenasim.KindProvisioning: k.FleetSlug, balenasim.KindDevice: k.DeviceName,
					}[k.Kind]
					if k.Kind != tt.kind || owner != tt.owner || *k.Description != "for CI" || !k.ExpiryDate.Equal(expiry) {
						t.Errorf("stored %+v", k)
					}
					id, err := e.c.As(secret).WhoAmI(ctx(t))
					if err != nil || id.ActorType != tt.actor {
						t.Errorf("the new key's whoami: %+v, %v", id, err)
					}
					checkNewestKeyID(t, p, s, k)
				})
			}
			t.Run("never expires, no description", func(t *testing.T) {
				secret, err := s.CreateProvisioningKey(ctx(t), e.fleetID(t, "acme/lab"), NewKey{})
				if err != nil {
					t.Fatal(err)
				}
				k := e.findKey(t, secret)
				if k.ExpiryDate != nil || k.Name != nil || k.Description != nil {
					t.Errorf("stored %+v", k)
				}
				checkNewestKeyID(t, p, s, k)
			})
		})
	}
}

func TestCreateKeyErrors(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	s := e.session(t, balenasim.DemoEmail)
	stale, err := e.sim.IssueToken(balenasim.DemoEmail, e.now.Add(-21*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	userKey, err := s.CreateUserKey(ctx(t), NewKey{Name: "as key"})
	if err != nil {
		t.Fatal(err)
	}
	bob := e.session(t, balenasim.DemoOtherEmail)
	tests := []struct {
		name    string
		create  func() (string, error)
		code    Code
		message string
	}{
		{"stale sign-in", func() (string, error) { return e.c.As(stale).CreateUserKey(ctx(t), NewKey{Name: "x"}) }, CodeFreshAuth, "Fresh authentication token required"},
		{"API key", func() (string, error) { return e.c.As(userKey).CreateUserKey(ctx(t), NewKey{Name: "x"}) }, CodeUnauthorized, ""},
		{"no name", func() (string, error) { return s.CreateUserKey(ctx(t), NewKey{}) }, CodeInvalid, "a user key needs a name"},
		{"name too long", func() (string, error) { return s.CreateUserKey(ctx(t), NewKey{Name: strings.Repeat("n", 51)}) }, CodeInvalid,
			"It is necessary that each api key that has a name, has a name that has a Length (Type) that is less than or equal to 50."},
		{"fleet not managed", func() (string, error) {
			return bob.CreateProvisioningKey(ctx(t), e.fleetID(t, "balena_os/raspberrypi4-64"), NewKey{})
		}, CodeForbidden, ""},
		{"unknown fleet", func() (string, error) { return s.CreateProvisioningKey(ctx(t), 99999, NewKey{}) }, CodeUpstream, "Internal Server Error"},
		{"unknown device", func() (string, error) { return s.CreateDeviceKey(ctx(t), 99999, NewKey{}) }, CodeUpstream, "Internal Server Error"},
		{"signed out", func() (string, error) { return e.c.As("").CreateDeviceKey(ctx(t), 1, NewKey{}) }, CodeUnauthorized, ""},
		// The portal never picks a key's value, but balena lets callers do
		// so for device keys, and a taken value is its only 409.
		{"taken value", func() (string, error) {
			return s.create(ctx(t), "create device key", fmt.Sprintf("/api-key/device/%d/device-key", e.device(t, "bench-1").DeviceID),
				map[string]any{"apiKey": userKey})
		}, CodeConflict, `"key" must be unique.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret, err := tt.create()
			var e *Error
			if secret != "" || !errors.As(err, &e) || e.Code != tt.code || e.Message != tt.message {
				t.Fatalf("got %q, %v; want %s %q", secret, err, tt.code, tt.message)
			}
		})
	}
	// Stale sign-ins still make fleet keys; renewing with the password
	// makes user keys possible again.
	staleSession := e.c.As(stale)
	if _, err := staleSession.CreateProvisioningKey(ctx(t), e.fleetID(t, "acme/lab"), NewKey{}); err != nil {
		t.Errorf("stale token, provisioning key: %v", err)
	}
	fresh, err := staleSession.RefreshToken(ctx(t), balenasim.DemoPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.As(fresh).CreateUserKey(ctx(t), NewKey{Name: "after refresh"}); err != nil {
		t.Errorf("refreshed token, user key: %v", err)
	}
}

func TestUpdateKey(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newModeEnv(t, m, balenasim.Options{})
			s := e.session(t, balenasim.DemoEmail)
			secret, err := s.CreateUserKey(ctx(t), NewKey{Name: "before", Description: "old"})
			if err != nil {
				t.Fatal(err)
			}
			id := e.findKey(t, secret).ID
			when := time.Date(2030, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
			steps := []struct {
				name string
				u    KeyUpdate
				want APIKey
			}{
				{"rename", KeyUpdate{Name: ptr("after & 'more'")}, APIKey{Name: "after & 'more'", Description: "old"}},
				{"describe", KeyUpdate{Description: ptr("new")}, APIKey{Name: "after & 'more'", Description: "new"}},
				{"set expiry", KeyUpdate{ExpiryDate: &when}, APIKey{Name: "after & 'more'", Description: "new", ExpiryDate: &when}},
				{"clear expiry and description", KeyUpdate{ClearExpiry: true, Description: ptr("")}, APIKey{Name: "after & 'more'"}},
			}
			for _, st := range steps {
				t.Run(st.name, func(t *testing.T) {
					if err := s.UpdateKey(ctx(t), id, st.u); err != nil {
						t.Fatal(err)
					}
					got, err := s.GetKey(ctx(t), id)
					if err != nil {
						t.Fatal(err)
					}
					if got.Name != st.want.Name || got.Description != st.want.Description || !equalTime(got.ExpiryDate, st.want.ExpiryDate) {
						t.Errorf("got %+v, want %+v", got, st.want)
					}
				})
			}
			for _, bad := range []KeyUpdate{{}, {ClearExpiry: true, ExpiryDate: &when}} {
				if err := s.UpdateKey(ctx(t), id, bad); ErrorCode(err) != CodeInvalid {
					t.Errorf("UpdateKey(%+v) = %v, want invalid", bad, err)
				}
			}
			tooLong := strings.Repeat("d", 151)
			if err := s.UpdateKey(ctx(t), id, KeyUpdate{Description: &tooLong}); ErrorCode(err) != CodeInvalid || !strings.Contains(err.Error(), "less than or equal to 150") {
				t.Errorf("long description: %v", err)
			}
			if err := e.c.As(secret).UpdateKey(ctx(t), id, KeyUpdate{Name: ptr("by key")}); ErrorCode(err) != CodeUnauthorized {
				t.Errorf("update with an API key: %v, want unauthorized", err)
			}
		})
	}
}

func TestUpdateAndDeleteOfInvisibleKeysChangeNothing(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	bob := e.session(t, balenasim.DemoOtherEmail)
	var adminKey balenasim.KeyRecord
	for _, k := range e.sim.Keys() {
		if k.OwnerEmail == balenasim.DemoEmail && k.Name != nil {
			adminKey = k
			break
		}
	}
	if err := bob.UpdateKey(ctx(t), adminKey.ID, KeyUpdate{Name: ptr("mine now")}); err != nil {
		t.Errorf("update: %v", err)
	}
	if err := bob.DeleteKey(ctx(t), adminKey.ID); err != nil {
		t.Errorf("delete: %v", err)
	}
	got, err := e.session(t, balenasim.DemoEmail).GetKey(ctx(t), adminKey.ID)
	if err != nil || got.Name != *adminKey.Name {
		t.Errorf("admin's key after bob's attempts: %+v, %v", got, err)
	}
}

func TestDeleteKey(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			e := newEnv(t, balenasim.Options{Profile: p})
			s := e.session(t, balenasim.DemoEmail)
			secret, err := s.CreateUserKey(ctx(t), NewKey{Name: "doomed"})
			if err != nil {
				t.Fatal(err)
			}
			id := e.findKey(t, secret).ID
			for range 2 { // idempotent, like balena
				if err := s.DeleteKey(ctx(t), id); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.GetKey(ctx(t), id); ErrorCode(err) != CodeNotFound {
				t.Errorf("deleted key: %v, want not found", err)
			}
			if _, err := e.c.As(secret).WhoAmI(ctx(t)); ErrorCode(err) != CodeUnauthorized {
				t.Errorf("deleted key still works: %v", err)
			}
		})
	}
}

// checkNewestKeyID: the key just made is found by its actor and name
// wherever the caller can read it; on open-balena a user reads only keys
// of their own.
func checkNewestKeyID(t *testing.T, p balenasim.Profile, s *Session, k balenasim.KeyRecord) {
	t.Helper()
	name := ""
	if k.Name != nil {
		name = *k.Name
	}
	want := k.ID
	if p == balenasim.ProfileOpenBalena && k.Kind != balenasim.KindUser {
		want = 0
	}
	got, err := s.NewestKeyID(ctx(t), k.ActorID, name)
	if err != nil || got != want {
		t.Errorf("NewestKeyID(actor %d, %q) = %d, %v; want %d", k.ActorID, name, got, err, want)
	}
}

// A collection write changes the keys of its ids that the caller may
// change, and only those, in one call; a read by ids shows what balena then
// holds.
func TestCollectionWritesAndReadsByID(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			e := newModeEnv(t, m, balenasim.Options{})
			s := e.session(t, balenasim.DemoEmail)
			before := map[int64]balenasim.KeyRecord{}
			var mine, others []int64
			for _, k := range e.sim.Keys() {
				before[k.ID] = k
				switch visible := visibleToAdmin(m.profile, k); {
				case visible && len(mine) < 5:
					mine = append(mine, k.ID)
				case !visible && len(others) < 3:
					others = append(others, k.ID)
				}
			}
			ids := append(append(slices.Clone(others), 999_999), mine...)

			got, err := s.KeysByID(ctx(t), ids)
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs []int64
			for _, k := range got {
				gotIDs = append(gotIDs, k.ID)
				r := before[k.ID]
				owner := map[KeyKind]string{KindUser: k.Owner.Username, KindProvisioning: k.Owner.FleetSlug, KindDevice: k.Owner.DeviceUUID}[k.Kind]
				want := map[balenasim.KeyKind]string{balenasim.KindUser: r.OwnerUsername, balenasim.KindProvisioning: r.FleetSlug, balenasim.KindDevice: r.DeviceUUID}[r.Kind]
				if string(k.Kind) != string(r.Kind) || owner != want || owner == "" {
					t.Errorf("key %d read as %+v, balena has %+v", k.ID, k, r)
				}
			}
			slices.Sort(gotIDs)
			if !slices.Equal(gotIDs, mine) {
				t.Errorf("KeysByID found %v, want the visible %v", gotIDs, mine)
			}

			when := e.now.Add(-time.Minute)
			e.sim.ResetCounters()
			if err := s.UpdateKeys(ctx(t), ids, KeyUpdate{ExpiryDate: &when}); err != nil {
				t.Fatal(err)
			}
			if c := e.sim.Counters(); c.Get("PATCH /v7/api_key") != 1 || c.Total() != 1 {
				t.Errorf("one collection PATCH expected, balena got %v", c.ByRoute)
			}
			for _, k := range e.sim.Keys() {
				want := before[k.ID].ExpiryDate
				if slices.Contains(mine, k.ID) {
					want = &when
				}
				if !equalTime(k.ExpiryDate, want) {
					t.Errorf("key %d: expiry %v, want %v", k.ID, k.ExpiryDate, want)
				}
			}
			held, err := s.KeyExpiries(ctx(t), ids)
			if err != nil || len(held) != len(mine) {
				t.Fatalf("KeyExpiries: %v, %v; want the %d visible keys", held, err, len(mine))
			}
			for _, id := range mine {
				if exp, ok := held[id]; !ok || !equalTime(exp, &when) {
					t.Errorf("KeyExpiries[%d] = %v, want %v", id, exp, when)
				}
			}

			e.sim.ResetCounters()
			if err := s.DeleteKeys(ctx(t), ids); err != nil {
				t.Fatal(err)
			}
			if c := e.sim.Counters(); c.Get("DELETE /v7/api_key") != 1 || c.Total() != 1 {
				t.Errorf("one collection DELETE expected, balena got %v", c.ByRoute)
			}
			left := map[int64]bool{}
			for _, k := range e.sim.Keys() {
				left[k.ID] = true
			}
			for _, id := range mine {
				if left[id] {
					t.Errorf("key %d is still there", id)
				}
			}
			for _, id := range others {
				if !left[id] {
					t.Errorf("key %d of another owner was deleted", id)
				}
			}
			if held, err := s.KeyExpiries(ctx(t), ids); err != nil || len(held) != 0 {
				t.Errorf("after the delete: %v, %v", held, err)
			}
		})
	}
}

// An empty set of ids is never sent: the collection unfiltered is every
// key the caller can change. Too many ids are refused before balena is
// asked.
func TestCollectionCallsRefuseNoIDsAndTooMany(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	s := e.session(t, balenasim.DemoEmail)
	keys := len(e.sim.Keys())
	when := e.now
	many := func(n int) []int64 {
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = int64(i + 1)
		}
		return ids
	}
	for name, call := range map[string]func(ids []int64) error{
		"UpdateKeys": func(ids []int64) error { return s.UpdateKeys(ctx(t), ids, KeyUpdate{ExpiryDate: &when}) },
		"DeleteKeys": func(ids []int64) error { return s.DeleteKeys(ctx(t), ids) },
	} {
		if err := call(nil); err != nil {
			t.Errorf("%s(none): %v", name, err)
		}
		if err := call(many(MaxWriteIDs + 1)); ErrorCode(err) != CodeInvalid {
			t.Errorf("%s(%d ids): %v, want invalid", name, MaxWriteIDs+1, err)
		}
	}
	if got, err := s.KeysByID(ctx(t), nil); err != nil || len(got) != 0 {
		t.Errorf("KeysByID(none): %v, %v", got, err)
	}
	if _, err := s.KeysByID(ctx(t), many(MaxReadIDs+1)); ErrorCode(err) != CodeInvalid {
		t.Errorf("KeysByID(%d ids): %v, want invalid", MaxReadIDs+1, err)
	}
	if _, err := s.KeyExpiries(ctx(t), many(MaxReadIDs+1)); ErrorCode(err) != CodeInvalid {
		t.Errorf("KeyExpiries(%d ids): %v, want invalid", MaxReadIDs+1, err)
	}
	if n := e.sim.Counters().Total(); n != 0 {
		t.Errorf("balena was asked %d times: %v", n, e.sim.Counters().ByRoute)
	}
	if n := len(e.sim.Keys()); n != keys {
		t.Errorf("%d keys left of %d", n, keys)
	}
}
