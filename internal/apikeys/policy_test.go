package apikeys_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/internal/apikeys"
)

var policy90 = apikeys.Policy{MaxLifetime: 90 * 24 * time.Hour, RequireDescription: true}

func TestPolicyOffersAndWords(t *testing.T) {
	// A wall clock's: a fraction of a second, in a zone with daylight saving.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip(err)
	}
	now := time.Date(2026, 12, 1, 11, 30, 0, 123456789, berlin)
	p := policy90
	var offered []string
	for _, c := range []string{"1d", "7d", "30d", "90d", "1y", "custom", "never"} {
		if p.Offers(c, now) {
			offered = append(offered, c)
		}
	}
	if want := []string{"1d", "7d", "30d", "90d", "custom"}; !slices.Equal(offered, want) {
		t.Errorf("offered %v, want %v", offered, want)
	}
	if !(apikeys.Policy{}).Offers("never", now) || (apikeys.Policy{}).Set() {
		t.Error("no policy should offer never and ask nothing")
	}
	// 2027-03-01 10:30 is the latest expiry: a custom date lasts its whole
	// day, so the last day to pick is the one before.
	if got := p.LatestDay(now); got != "2027-02-28" {
		t.Errorf("latest day %s", got)
	}
	if got := p.ExpiryRule(); got != "Your organization's policy: keys expire within 90 days." {
		t.Errorf("rule %q", got)
	}
	if got := (apikeys.Policy{MaxLifetime: 36 * time.Hour}).Lifetime(); got != "36 hours" {
		t.Errorf("lifetime %q", got)
	}
	empty, some := "", "for CI"
	latest := now.UTC().AddDate(0, 0, 90).Truncate(time.Second)
	later := latest.Add(time.Second)
	for _, c := range []struct {
		expiry *time.Time
		desc   *string
		fields []string
	}{
		{&latest, &some, nil},
		{&latest, nil, nil},
		{nil, &some, []string{"expiry"}},
		{&later, &empty, []string{"description", "expiry"}},
	} {
		got := p.Breach(now, c.expiry, c.desc)
		var fields []string
		for f, msg := range got {
			fields = append(fields, f)
			if !strings.HasPrefix(msg, "Your organization's policy: ") {
				t.Errorf("%s: %q", f, msg)
			}
		}
		slices.Sort(fields)
		if !slices.Equal(fields, c.fields) {
			t.Errorf("%v %v: %v, want %v", c.expiry, c.desc, got, c.fields)
		}
	}
	// Refusing "never", it names the last day the custom date takes
	// (28 Feb), not the day the maximum falls on (1 Mar), which a custom
	// date would then be refused for.
	if msg := p.Breach(now, nil, nil)["expiry"]; !strings.Contains(msg, "on or before 28 Feb 2027;") {
		t.Errorf("never refused with %q, want the last day a custom date may take", msg)
	}
}

func TestPolicyRefusesBreachesOfEveryChange(t *testing.T) {
	e := newEnv(t, balenasim.ProfileBalenaCloud)
	e.svc = e.svc.WithPolicy(policy90)
	ctx := context.Background()
	dev := aDevice(t, e)
	latestDay := policy90.LatestDay(e.now)
	dayAfter, _ := time.Parse(time.DateOnly, latestDay)
	dayAfter = dayAfter.AddDate(0, 0, 1)
	for _, c := range []struct {
		r      apikeys.NewKeyRequest
		fields []string
	}{
		{apikeys.NewKeyRequest{Kind: "user", Name: "a", Description: "d", Expiry: apikeys.Expiry{Choice: "never"}}, []string{"expiry"}},
		{apikeys.NewKeyRequest{Kind: "provisioning", Fleet: "acme/plant-3", Description: "d", Expiry: apikeys.Expiry{Choice: "1y"}}, []string{"expiry"}},
		{apikeys.NewKeyRequest{Kind: "device", Device: dev.DeviceUUID, Expiry: apikeys.Expiry{Choice: "custom", Date: dayAfter.Format(time.DateOnly)}}, []string{"description", "expiry_date"}},
		{apikeys.NewKeyRequest{Kind: "device", Device: dev.DeviceUUID, Description: "d", Expiry: apikeys.Expiry{Choice: "custom", Date: latestDay}}, nil},
		{apikeys.NewKeyRequest{Kind: "provisioning", Fleet: "acme/plant-3", Description: "d", Expiry: apikeys.Expiry{Choice: "90d"}}, nil},
	} {
		_, err := e.svc.PlanCreate(ctx, e.user, c.r)
		var got []string
		for f := range apikeys.FieldErrors(err) {
			got = append(got, f)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.fields) || (c.fields == nil) != (err == nil) {
			t.Errorf("%s %+v: %v, want %v", c.r.Kind, c.r.Expiry, err, c.fields)
		}
	}

	never := e.seed(t, balenasim.KindUser, balenasim.DemoEmail, "forever", nil)
	if _, err := e.svc.SetExpiry(ctx, e.user, never.ID, apikeys.Expiry{Choice: "never"}); apikeys.FieldErrors(err)["expiry"] == "" {
		t.Errorf("clearing an expiry: %v", err)
	}
	if _, err := e.svc.Update(ctx, e.user, never.ID, apikeys.Edit{Name: "renamed", Expiry: apikeys.Expiry{Choice: apikeys.ExpiryKeep}}); apikeys.FieldErrors(err)["description"] == "" {
		t.Errorf("a rename without a description: %v", err)
	}
	// Keeping the expiry sets none: a rename that adds a description is fine.
	if _, err := e.svc.Update(ctx, e.user, never.ID, apikeys.Edit{Name: "renamed", Description: "why", Expiry: apikeys.Expiry{Choice: apikeys.ExpiryKeep}}); err != nil {
		t.Errorf("a described rename: %v", err)
	}
	far := e.now.AddDate(2, 0, 0)
	old := e.seed(t, balenasim.KindProvisioning, "acme/plant-3", "long", &far)
	if _, err := e.svc.PlanRotate(ctx, e.user, old.ID, apikeys.RotateRequest{Expiry: apikeys.Expiry{Choice: apikeys.ExpirySame}, Grace: "now"}); !strings.Contains(apikeys.FieldErrors(err)["expiry"], "within 90 days") || apikeys.FieldErrors(err)["description"] == "" {
		t.Errorf("rotation keeping a far expiry: %v", err)
	}
	plan, err := e.svc.PlanRotate(ctx, e.user, old.ID, apikeys.RotateRequest{Expiry: apikeys.Expiry{Choice: apikeys.ExpiryFresh}, Grace: "now", Description: "press line"})
	if err != nil || !plan.Expiry.Equal(*policy90.Latest(e.now)) || plan.Description != "press line" {
		t.Errorf("fresh rotation: %+v %v", plan, err)
	}
	if len(e.trail.events) != 1 {
		t.Errorf("refused changes were recorded: %v", e.trail.actions())
	}
	r, err := e.svc.Rotate(ctx, e.user, plan)
	if nk, _ := e.record(t, r.Key.ID); err != nil || nk.Description == nil || *nk.Description != "press line" || !nk.ExpiryDate.Equal(*plan.Expiry) {
		t.Errorf("the replacement: %+v %v", nk, err)
	}
}

func TestPolicyBreachesAreBalenasFilterAndBulkSetsTheMaximum(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			e := newEnv(t, p)
			e.svc = e.svc.WithPolicy(policy90)
			ctx := context.Background()
			all, err := e.user.API.ListKeys(ctx, apiclient.KeyQuery{Top: 1000})
			if err != nil {
				t.Fatal(err)
			}
			var want []int64
			for _, k := range all.Keys {
				if policy90.Breaks(k, e.now) {
					want = append(want, k.ID)
				}
			}
			q := apiclient.KeyQuery{Breaking: policy90.Breaches(e.now), Top: 1000}
			page, err := e.user.API.ListKeys(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, k := range page.Keys {
				got = append(got, k.ID)
			}
			slices.Sort(got)
			slices.Sort(want)
			if len(want) == 0 || !slices.Equal(got, want) || page.Total != len(want) {
				t.Fatalf("breaches %v (total %d), want %v", got, page.Total, want)
			}
			if n, err := e.user.API.(*apiclient.Session).CountKeys(ctx, q); err != nil || n != len(want) {
				t.Errorf("count %d %v, want %d", n, err, len(want))
			}

			// Only the lifetime: set every breaching key to the maximum, and
			// a key expiring sooner keeps its date.
			lifeOnly := apikeys.Policy{MaxLifetime: policy90.MaxLifetime}
			e.svc = e.svc.WithPolicy(lifeOnly)
			soon := e.now.AddDate(0, 0, 3)
			keep := e.seed(t, balenasim.KindUser, balenasim.DemoEmail, "soon", &soon)
			sel, err := e.svc.Select(ctx, e.user, apikeys.Selection{All: true, Query: apiclient.KeyQuery{Breaking: lifeOnly.Breaches(e.now)}})
			if err != nil || len(sel) == 0 {
				t.Fatalf("select: %d %v", len(sel), err)
			}
			res, err := e.svc.Bulk(ctx, e.user, apikeys.BulkPolicyMax, append(sel, apiclient.APIKey{ID: keep.ID, ExpiryDate: &soon}))
			if err != nil || res.Done != len(sel) || res.Kept != 1 || len(res.Failures)+len(res.Unknown) != 0 {
				t.Fatalf("bulk: %+v %v", res, err)
			}
			latest := lifeOnly.Latest(e.now)
			for _, k := range sel {
				r, _ := e.record(t, k.ID)
				if r.ExpiryDate == nil || !r.ExpiryDate.Equal(*latest) {
					t.Errorf("key %d expires %v, want %v", k.ID, r.ExpiryDate, latest)
				}
			}
			if r, _ := e.record(t, keep.ID); !r.ExpiryDate.Equal(soon) {
				t.Errorf("a key within the policy was changed: %v", r.ExpiryDate)
			}
			if n, err := e.user.API.(*apiclient.Session).CountKeys(ctx, apiclient.KeyQuery{Breaking: lifeOnly.Breaches(e.now)}); err != nil || n != 0 {
				t.Errorf("breaches left: %d %v", n, err)
			}
		})
	}
}
