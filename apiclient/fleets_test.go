package apiclient

import (
	"slices"
	"strings"
	"testing"

	"github.com/keyportal/keyportal/apiclient/balenasim"
)

func TestFleets(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			e := newEnv(t, balenasim.Options{Profile: p})
			tests := []struct {
				email string
				want  []string
			}{
				// The public fleet is readable by all, but nobody's own.
				{balenasim.DemoEmail, []string{"acme/lab", "acme/plant-1", "acme/plant-3", "acme/warehouse"}},
				{balenasim.DemoOtherEmail, []string{"acme/plant-1"}},
				{"eve@example.com", []string{"globex/hq"}},
			}
			for _, tt := range tests {
				t.Run(tt.email, func(t *testing.T) {
					fleets, err := e.session(t, tt.email).Fleets(ctx(t))
					if err != nil {
						t.Fatal(err)
					}
					var slugs []string
					for _, f := range fleets {
						slugs = append(slugs, f.Slug)
						if f.ID != e.fleetID(t, f.Slug) || f.ActorID == 0 || f.AppName == "" {
							t.Errorf("fleet %+v", f)
						}
					}
					if !slices.Equal(slugs, tt.want) {
						t.Errorf("fleets %v, want %v", slugs, tt.want)
					}
				})
			}
		})
	}
}

func TestDevices(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	s := e.session(t, balenasim.DemoEmail)
	byName := map[string]Device{}
	all, err := s.DevicesByFleet(ctx(t), e.fleetID(t, "acme/plant-3"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		byName[d.DeviceName] = d
		if d.FleetID != e.fleetID(t, "acme/plant-3") || d.ActorID == 0 || d.UUID != e.device(t, d.DeviceName).DeviceUUID {
			t.Errorf("device %+v", d)
		}
	}
	names := func(ds []Device) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.DeviceName)
		}
		return out
	}
	if got := names(all); !slices.Equal(got, []string{"gw-17", "gw-18", "press-ctrl"}) {
		t.Fatalf("plant-3 devices %v", got)
	}
	tests := []struct {
		name string
		get  func() ([]Device, error)
		want []string
	}{
		{"one uuid", func() ([]Device, error) { return s.DevicesByUUID(ctx(t), byName["gw-18"].UUID) }, []string{"gw-18"}},
		{"two uuids and an unknown", func() ([]Device, error) {
			return s.DevicesByUUID(ctx(t), byName["gw-18"].UUID, byName["gw-17"].UUID, "nope'")
		}, []string{"gw-17", "gw-18"}},
		{"no uuids", func() ([]Device, error) { return s.DevicesByUUID(ctx(t)) }, nil},
		{"actors", func() ([]Device, error) {
			return s.DevicesByActor(ctx(t), byName["press-ctrl"].ActorID, byName["gw-17"].ActorID, 1)
		}, []string{"gw-17", "press-ctrl"}},
		{"no actors", func() ([]Device, error) { return s.DevicesByActor(ctx(t)) }, nil},
		{"named exactly", func() ([]Device, error) { return s.DevicesNamed(ctx(t), "gw-17", 6) }, []string{"gw-17"}},
		{"a name is not a prefix", func() ([]Device, error) { return s.DevicesNamed(ctx(t), "gw-1", 6) }, nil},
		{"a uuid prefix of 7, upper case", func() ([]Device, error) {
			return s.DevicesNamed(ctx(t), strings.ToUpper(byName["gw-18"].UUID[:7]), 6)
		}, []string{"gw-18"}},
		{"a uuid prefix of 6 is too short", func() ([]Device, error) { return s.DevicesNamed(ctx(t), byName["gw-18"].UUID[:6], 6) }, nil},
		{"a quote", func() ([]Device, error) { return s.DevicesNamed(ctx(t), "gw'17", 6) }, nil},
		{"unknown fleet", func() ([]Device, error) { return s.DevicesByFleet(ctx(t), 99999) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.sim.ResetCounters()
			got, err := tt.get()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(got), tt.want) {
				t.Errorf("got %v, want %v", names(got), tt.want)
			}
			if n := e.sim.Counters().Total(); n > 1 {
				t.Errorf("%d requests, want at most one", n)
			}
		})
	}
}

func TestSearchDevices(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	s := e.session(t, balenasim.DemoEmail)
	gw18 := e.device(t, "gw-18").DeviceUUID
	for _, tt := range []struct {
		name, text string
		top        int
		check      func([]Device) bool
	}{
		{"a name part, any case", "PRESS", 20, func(ds []Device) bool {
			ok := len(ds) > 0 && slices.ContainsFunc(ds, func(d Device) bool { return d.DeviceName == "press-ctrl" })
			for _, d := range ds {
				ok = ok && strings.Contains(strings.ToLower(d.DeviceName), "press")
			}
			return ok
		}},
		{"a uuid prefix", strings.ToUpper(gw18[:8]), 20, func(ds []Device) bool { return len(ds) == 1 && ds[0].UUID == gw18 }},
		{"at most top", "", 2, func(ds []Device) bool { return len(ds) == 2 && ds[0].DeviceName <= ds[1].DeviceName }},
		{"text that is not OData", "x') or (1 eq 1", 5, func(ds []Device) bool { return len(ds) == 0 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.sim.ResetCounters()
			got, err := s.SearchDevices(ctx(t), tt.text, tt.top)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(got) {
				t.Errorf("SearchDevices(%q, %d) = %+v", tt.text, tt.top, got)
			}
			if n := e.sim.Counters().Total(); n != 1 {
				t.Errorf("%d requests, want one", n)
			}
		})
	}
}
