package apikeys_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/internal/apikeys"
)

// The rules are tested without HTTP of the portal's own and without a
// browser: a real apiclient talks to the stand-in on loopback.

// trail keeps the events a Service records.
type trail struct {
	mu     sync.Mutex
	events []apikeys.Event
}

func (t *trail) Record(_ context.Context, e apikeys.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, e)
}

func (t *trail) actions() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, e := range t.events {
		out = append(out, e.Action)
	}
	return out
}

type env struct {
	sim    *balenasim.Sim
	client *apiclient.Client
	now    time.Time
	svc    *apikeys.Service
	trail  *trail
	user   apikeys.Caller
}

var profiles = []balenasim.Profile{balenasim.ProfileBalenaCloud, balenasim.ProfileOpenBalena}

func newEnv(t *testing.T, p balenasim.Profile) *env {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	sim, err := balenasim.New(balenasim.Options{Profile: p, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	client, err := apiclient.New(apiclient.Options{BaseURL: srv.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sim.IssueToken(balenasim.DemoEmail, now)
	if err != nil {
		t.Fatal(err)
	}
	api := client.As(tok)
	id, err := api.WhoAmI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tr := &trail{}
	return &env{sim: sim, client: client, now: now, trail: tr, svc: apikeys.New(func() time.Time { return now }, tr),
		user: apikeys.Caller{API: api.WithIdentity(id), Identity: id, Ref: "req-1"}}
}

func (e *env) record(t *testing.T, id int64) (balenasim.KeyRecord, bool) {
	t.Helper()
	for _, k := range e.sim.Keys() {
		if k.ID == id {
			return k, true
		}
	}
	return balenasim.KeyRecord{}, false
}

func (e *env) seed(t *testing.T, kind balenasim.KeyKind, owner, name string, expiry *time.Time) balenasim.KeyRecord {
	t.Helper()
	k, err := e.sim.CreateKey(balenasim.NewKey{Kind: kind, Owner: owner, Name: &name, ExpiryDate: expiry})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func aDevice(t *testing.T, e *env) balenasim.KeyRecord {
	t.Helper()
	for _, k := range e.sim.Keys() {
		if k.Kind == balenasim.KindDevice && k.DeviceUUID != "" {
			return k
		}
	}
	t.Fatal("the demo dataset has no device key")
	return balenasim.KeyRecord{}
}

func TestCreateEachKind(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			e := newEnv(t, p)
			ctx := context.Background()
			dev := aDevice(t, e)
			for _, r := range []apikeys.NewKeyRequest{
				{Kind: "user", Name: "ci deploy", Description: "for CI", Expiry: apikeys.Expiry{Choice: "30d"}},
				{Kind: "provisioning", Fleet: "acme/plant-3", Name: "plant 3 line", Expiry: apikeys.Expiry{Choice: "never"}},
				{Kind: "device", Device: strings.ToUpper(dev.DeviceUUID), Name: "gateway", Expiry: apikeys.Expiry{Choice: "custom", Date: e.now.AddDate(0, 2, 0).Format(time.DateOnly)}},
			} {
				plan, err := e.svc.PlanCreate(ctx, e.user, r)
				if err != nil {
					t.Fatalf("%s: plan: %v", r.Kind, err)
				}
				made, err := e.svc.Create(ctx, e.user, plan)
				if err != nil || made.Secret == "" {
					t.Fatalf("%s: %v (secret %q)", r.Kind, err, made.Secret)
				}
				var rec balenasim.KeyRecord
				for _, k := range e.sim.Keys() {
					if k.Secret == made.Secret {
						rec = k
					}
				}
				if rec.ID == 0 || string(rec.Kind) != r.Kind || rec.Name == nil || *rec.Name != r.Name {
					t.Fatalf("%s: balena holds %+v", r.Kind, rec)
				}
				if (made.Key.ExpiryDate == nil) != (rec.ExpiryDate == nil) || (rec.ExpiryDate != nil && !rec.ExpiryDate.Equal(*made.Key.ExpiryDate)) {
					t.Errorf("%s: expiry %v, balena has %v", r.Kind, made.Key.ExpiryDate, rec.ExpiryDate)
				}
				// open-balena hides other actors' keys from users: no id then.
				if made.Key.ID != rec.ID && !(p == balenasim.ProfileOpenBalena && r.Kind != "user" && made.Key.ID == 0) {
					t.Errorf("%s: new key id %d, balena made %d", r.Kind, made.Key.ID, rec.ID)
				}
			}
			if got := e.trail.actions(); !slices.Equal(got, []string{"create", "create", "create"}) {
				t.Errorf("trail %v", got)
			}
			for _, ev := range e.trail.events {
				if ev.Err != nil || ev.Username != balenasim.DemoUsername || ev.Ref != "req-1" {
					t.Errorf("event %+v", ev)
				}
			}
		})
	}
}

func TestPlanCreateNamesEveryBadField(t *testing.T) {
	e := newEnv(t, balenasim.ProfileBalenaCloud)
	ctx := context.Background()
	for _, c := range []struct {
		r      apikeys.NewKeyRequest
		caller func(apikeys.Caller) apikeys.Caller
		fields []string
	}{
		{r: apikeys.NewKeyRequest{Kind: "org", Expiry: apikeys.Expiry{Choice: "7d"}}, fields: []string{"kind"}},
		{r: apikeys.NewKeyRequest{Kind: "user", Expiry: apikeys.Expiry{Choice: "7d"}}, fields: []string{"name"}},
		{r: apikeys.NewKeyRequest{Kind: "user", Name: strings.Repeat("n", 51), Description: strings.Repeat("d", 1151), Expiry: apikeys.Expiry{Choice: "soon"}}, fields: []string{"description", "expiry", "name"}},
		{r: apikeys.NewKeyRequest{Kind: "provisioning", Expiry: apikeys.Expiry{Choice: "never"}}, fields: []string{"fleet"}},
		{r: apikeys.NewKeyRequest{Kind: "provisioning", Fleet: "other/fleet", Expiry: apikeys.Expiry{Choice: "never"}}, fields: []string{"fleet"}},
		{r: apikeys.NewKeyRequest{Kind: "device", Device: "gw-99", Expiry: apikeys.Expiry{Choice: "never"}}, fields: []string{"device"}},
		{r: apikeys.NewKeyRequest{Kind: "device", Device: " ", Expiry: apikeys.Expiry{Choice: "never"}}, fields: []string{"device"}},
		{r: apikeys.NewKeyRequest{Kind: "device", Device: "gw\x00" + strings.Repeat("x", 300), Expiry: apikeys.Expiry{Choice: "never"}}, fields: []string{"device"}},
		{r: apikeys.NewKeyRequest{Kind: "device", Device: "0000000", Expiry: apikeys.Expiry{Choice: "custom", Date: "2001-01-01"}}, fields: []string{"device", "expiry_date"}},
		{r: apikeys.NewKeyRequest{Kind: "user", Name: "x", Expiry: apikeys.Expiry{Choice: "never"}}, fields: []string{"kind"},
			caller: func(c apikeys.Caller) apikeys.Caller { c.APIKey = true; return c }},
	} {
		caller := e.user
		if c.caller != nil {
			caller = c.caller(caller)
		}
		_, err := e.svc.PlanCreate(ctx, caller, c.r)
		fields := apikeys.FieldErrors(err)
		got := make([]string, 0, len(fields))
		for f := range fields {
			got = append(got, f)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.fields) || apikeys.Code(err) != apiclient.CodeInvalid {
			t.Errorf("%+v: fields %v (%v), want %v", c.r, got, err, c.fields)
		}
	}
	_, err := e.svc.PlanCreate(ctx, e.user, apikeys.NewKeyRequest{Kind: "user", Name: strings.Repeat("é", 1234), Expiry: apikeys.Expiry{Choice: "7d"}})
	if msg := apikeys.FieldErrors(err)["name"]; !strings.Contains(msg, "this one has 1,234.") {
		t.Errorf("name message %q", msg)
	}
	if len(e.trail.events) != 0 {
		t.Errorf("refused requests were recorded: %v", e.trail.actions())
	}
}

func TestChangesAreMadeAndRecorded(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			e := newEnv(t, p)
			ctx := context.Background()
			later := e.now.AddDate(0, 1, 0)
			k := e.seed(t, balenasim.KindUser, balenasim.DemoEmail, "to change", &later)

			up, err := e.svc.Update(ctx, e.user, k.ID, apikeys.Edit{Name: "renamed", Description: "now described", Expiry: apikeys.Expiry{Choice: apikeys.ExpiryKeep}})
			if err != nil || !up.Changed || up.Key.Name != "renamed" {
				t.Fatalf("update: %+v %v", up, err)
			}
			if r, _ := e.record(t, k.ID); *r.Name != "renamed" || *r.Description != "now described" || !r.ExpiryDate.Equal(later) {
				t.Errorf("balena has %+v", r)
			}
			if up, err := e.svc.Update(ctx, e.user, k.ID, apikeys.Edit{Name: "renamed", Description: "now described", Expiry: apikeys.Expiry{Choice: apikeys.ExpiryKeep}}); err != nil || up.Changed {
				t.Errorf("an edit that changes nothing: %+v %v", up, err)
			}
			if _, err := e.svc.Update(ctx, e.user, k.ID, apikeys.Edit{Expiry: apikeys.Expiry{Choice: apikeys.ExpiryKeep}}); apikeys.FieldErrors(err)["name"] == "" {
				t.Errorf("a named user key lost its name: %v", err)
			}

			got, err := e.svc.SetExpiry(ctx, e.user, k.ID, apikeys.Expiry{Choice: "never"})
			if r, _ := e.record(t, k.ID); err != nil || got.ExpiryDate != nil || r.ExpiryDate != nil {
				t.Errorf("clear expiry: %v, balena has %v", err, r.ExpiryDate)
			}
			got, err = e.svc.ExpireNow(ctx, e.user, k.ID)
			if r, _ := e.record(t, k.ID); err != nil || !r.Expired(e.now) || apikeys.StatusOf(got, e.now, apikeys.DefaultWarn) != apikeys.StatusExpired {
				t.Errorf("expire now: %v, balena has %v", err, r.ExpiryDate)
			}
			if _, err := e.svc.Revoke(ctx, e.user, k.ID); err != nil {
				t.Fatal(err)
			}
			if _, ok := e.record(t, k.ID); ok {
				t.Error("revoked key still at balena")
			}
			if got := e.trail.actions(); !slices.Equal(got, []string{"update", "clear_expiry", "expire", "revoke"}) {
				t.Errorf("trail %v", got)
			}
			ev := e.trail.events[0]
			if ev.Key.ID != k.ID || len(ev.Changes) != 2 || *ev.Changes[0].Old != "to change" || *ev.Changes[0].New != "renamed" {
				t.Errorf("update event %+v", ev)
			}
		})
	}
}

func TestRotateMakesTheSameKeyAndRetiresTheOld(t *testing.T) {
	e := newEnv(t, balenasim.ProfileBalenaCloud)
	ctx := context.Background()
	later := e.now.AddDate(0, 3, 0)
	old := e.seed(t, balenasim.KindProvisioning, "acme/plant-3", "line key", &later)

	if _, err := e.svc.PlanRotate(ctx, e.user, old.ID, apikeys.RotateRequest{Expiry: apikeys.Expiry{Choice: apikeys.ExpirySame}, Grace: "1w"}); apikeys.FieldErrors(err)["grace"] == "" {
		t.Errorf("unknown grace: %v", err)
	}
	plan, err := e.svc.PlanRotate(ctx, e.user, old.ID, apikeys.RotateRequest{Expiry: apikeys.Expiry{Choice: apikeys.ExpirySame}, Grace: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.Rotate(ctx, e.user, plan)
	if err != nil || r.RetireErr != nil {
		t.Fatal(err, r.RetireErr)
	}
	nk, ok := e.record(t, r.Key.ID)
	if !ok || nk.Secret != r.Secret || *nk.Name != "line key" || nk.FleetSlug != "acme/plant-3" || !nk.ExpiryDate.Equal(later) {
		t.Errorf("replacement %+v", nk)
	}
	ok2, _ := e.record(t, old.ID)
	if want := e.now.Add(time.Hour); !ok2.ExpiryDate.Equal(want) || !r.OldUntil.Equal(want) {
		t.Errorf("old key expires %v, want %v", ok2.ExpiryDate, want)
	}
	if got := e.trail.actions(); !slices.Equal(got, []string{"rotate_create", "rotate_expire_old"}) || e.trail.events[0].NewKey != nk.ID || e.trail.events[0].Key.ID != old.ID {
		t.Errorf("trail %v %+v", got, e.trail.events)
	}
}

func TestBulkReportsEachFailureAndRecordsInOrder(t *testing.T) {
	e := newEnv(t, balenasim.ProfileBalenaCloud)
	ctx := context.Background()
	var ids []int64
	for _, n := range []string{"bulk a", "bulk b", "bulk c"} {
		ids = append(ids, e.seed(t, balenasim.KindUser, balenasim.DemoEmail, n, nil).ID)
	}
	keys, err := e.svc.Select(ctx, e.user, apikeys.Selection{IDs: append(ids, ids[0], 999_999)})
	if err != nil || len(keys) != 3 {
		t.Fatalf("select: %d keys, %v", len(keys), err)
	}
	// balena fails every change of the first attempt.
	e.sim.SetFaults(balenasim.Faults{ErrorRate: 1, Routes: []string{"PATCH /v7/api_key"}})
	res, err := e.svc.Bulk(ctx, e.user, apikeys.BulkExpire, keys)
	if err != nil || res.Done != 0 || len(res.Failures) != 3 {
		t.Fatalf("bulk: %+v %v", res, err)
	}
	for i, f := range res.Failures {
		if f.Key.ID != ids[i] || !strings.HasPrefix(f.Error(), "The key was not expired. ") {
			t.Errorf("failure %d: key %d, %q", i, f.Key.ID, f.Error())
		}
	}
	e.sim.SetFaults(balenasim.Faults{})
	res, err = e.svc.Bulk(ctx, e.user, apikeys.BulkExpire, keys)
	if err != nil || res.Done != 3 || len(res.Failures) != 0 {
		t.Fatalf("bulk: %+v %v", res, err)
	}
	for _, id := range ids {
		if r, _ := e.record(t, id); !r.Expired(e.now) {
			t.Errorf("key %d not expired: %v", id, r.ExpiryDate)
		}
	}
	var order []int64
	for _, ev := range e.trail.events {
		order = append(order, ev.Key.ID)
		if !ev.Bulk || ev.Action != "expire" {
			t.Errorf("event %+v", ev)
		}
	}
	if want := append(slices.Clone(ids), ids...); !slices.Equal(order, want) {
		t.Errorf("trail order %v, want %v", order, want)
	}
	all, err := e.svc.Select(ctx, e.user, apikeys.Selection{All: true, Query: apiclient.KeyQuery{Text: "bulk "}})
	if err != nil || len(all) != 3 {
		t.Errorf("every key of a view: %d keys, %v", len(all), err)
	}
}

func TestAPIKeyCallersAreRefusedBeforeBalenaIsAsked(t *testing.T) {
	e := newEnv(t, balenasim.ProfileBalenaCloud)
	ctx := context.Background()
	k := e.seed(t, balenasim.KindUser, balenasim.DemoEmail, "untouchable", nil)
	c := e.user
	c.APIKey = true
	e.sim.ResetCounters()
	_, err1 := e.svc.ExpireNow(ctx, c, k.ID)
	_, err2 := e.svc.Revoke(ctx, c, k.ID)
	_, err3 := e.svc.Update(ctx, c, k.ID, apikeys.Edit{Name: "x"})
	_, err4 := e.svc.PlanRotate(ctx, c, k.ID, apikeys.RotateRequest{Grace: "now"})
	_, err5 := e.svc.Select(ctx, c, apikeys.Selection{IDs: []int64{k.ID}})
	for i, err := range []error{err1, err2, err3, err4, err5} {
		if apikeys.Code(err) != apiclient.CodeForbidden || !strings.Contains(apikeys.Explain(err), "API key") {
			t.Errorf("%d: %v", i, err)
		}
	}
	if n := e.sim.Counters().Total(); n != 0 {
		t.Errorf("balena was asked %d times", n)
	}
}

func TestAFailedWriteSaysWhatWasNotDoneAndIsRecorded(t *testing.T) {
	e := newEnv(t, balenasim.ProfileBalenaCloud)
	ctx := context.Background()
	k := e.seed(t, balenasim.KindUser, balenasim.DemoEmail, "unlucky", nil)
	e.sim.SetFaults(balenasim.Faults{ErrorRate: 1, Routes: []string{"DELETE /v7/api_key(id)"}})
	_, err := e.svc.Revoke(ctx, e.user, k.ID)
	if !apikeys.IsWriteError(err) || apikeys.Code(err) != apiclient.CodeUpstream ||
		apikeys.Explain(err) != "The key was not revoked. balena answered with an error. Try again in a moment." {
		t.Errorf("%v: %q", err, apikeys.Explain(err))
	}
	if len(e.trail.events) != 1 || e.trail.events[0].Err == nil {
		t.Errorf("trail %+v", e.trail.events)
	}

	// A 401 to a write from a token balena still accepts is a refusal of
	// the change, not the end of the session.
	name := "api key"
	apiKey, _ := e.sim.CreateKey(balenasim.NewKey{Kind: balenasim.KindUser, Owner: balenasim.DemoEmail, Name: &name})
	e.sim.SetFaults(balenasim.Faults{})
	c := e.user
	c.API = e.client.As(apiKey.Secret)
	_, err = e.svc.ExpireNow(ctx, c, k.ID)
	if apikeys.Code(err) != apiclient.CodeForbidden || !strings.Contains(apikeys.Explain(err), "balena did not allow this change.") {
		t.Errorf("API key's expire: %v", err)
	}
}

func TestStatusOf(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) apiclient.APIKey { e := now.Add(d); return apiclient.APIKey{ExpiryDate: &e} }
	for _, c := range []struct {
		k    apiclient.APIKey
		want apikeys.Status
	}{
		{apiclient.APIKey{}, apikeys.StatusNever},
		{at(-time.Hour), apikeys.StatusExpired},
		{at(0), apikeys.StatusExpired}, // an expiry of now no longer authenticates
		{at(time.Second), apikeys.StatusExpiring},
		{at(apikeys.DefaultWarn - time.Second), apikeys.StatusExpiring},
		{at(apikeys.DefaultWarn), apikeys.StatusActive},
		{at(365 * 24 * time.Hour), apikeys.StatusActive},
	} {
		if got := apikeys.StatusOf(c.k, now, apikeys.DefaultWarn); got != c.want {
			t.Errorf("expiry %v: %s, want %s", c.k.ExpiryDate, got, c.want)
		}
	}
}

func TestOwnerAndLabel(t *testing.T) {
	for _, c := range []struct {
		k            apiclient.APIKey
		owner, label string
	}{
		{apiclient.APIKey{Name: "ci", Kind: apiclient.KindUser, Owner: apiclient.Owner{Username: "admin"}}, "admin", "“ci”"},
		{apiclient.APIKey{Kind: apiclient.KindProvisioning, Owner: apiclient.Owner{FleetSlug: "acme/plant-3"}}, "acme/plant-3", "the unnamed provisioning key of acme/plant-3"},
		{apiclient.APIKey{Kind: apiclient.KindDevice, Owner: apiclient.Owner{DeviceName: "gw-17", DeviceUUID: "a8abe47f00"}}, "gw-17", "the unnamed device key of gw-17"},
		{apiclient.APIKey{Kind: apiclient.KindDevice, Owner: apiclient.Owner{DeviceUUID: "a8abe47f00"}}, "a8abe47", "the unnamed device key of a8abe47"},
		{apiclient.APIKey{Owner: apiclient.Owner{ActorID: 42}}, "actor 42", "the unnamed  key of actor 42"},
	} {
		if o, l := apikeys.Owner(c.k), apikeys.Label(c.k); o != c.owner || l != c.label {
			t.Errorf("%+v: %q, %q; want %q, %q", c.k, o, l, c.owner, c.label)
		}
	}
}

func TestResolveExpiry(t *testing.T) {
	now := time.Date(2026, 1, 31, 10, 30, 0, 500, time.UTC)
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	for _, c := range []struct {
		e     apikeys.Expiry
		want  *time.Time
		field string
	}{
		{apikeys.Expiry{Choice: "1d"}, ptr(time.Date(2026, 2, 1, 10, 30, 0, 0, time.UTC)), ""},
		{apikeys.Expiry{Choice: "30d"}, ptr(time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)), ""},
		{apikeys.Expiry{Choice: "1y"}, ptr(time.Date(2027, 1, 31, 10, 30, 0, 0, time.UTC)), ""},
		{apikeys.Expiry{Choice: "never"}, nil, ""},
		{apikeys.Expiry{Choice: "custom", Date: "2026-12-31"}, ptr(day("2026-12-31").Add(24*time.Hour - time.Second)), ""},
		{apikeys.Expiry{Choice: "custom", Date: "2026-01-31"}, ptr(day("2026-01-31").Add(24*time.Hour - time.Second)), ""},
		{apikeys.Expiry{Choice: "custom", Date: "2026-01-30"}, nil, "expiry_date"},
		{apikeys.Expiry{Choice: "custom", Date: "31/12/2026"}, nil, "expiry_date"},
		{apikeys.Expiry{Choice: "custom"}, nil, "expiry_date"},
		{apikeys.Expiry{Choice: apikeys.ExpiryKeep}, nil, "expiry"},
		{apikeys.Expiry{Choice: ""}, nil, "expiry"},
	} {
		got, err := apikeys.ResolveExpiry(c.e, now)
		fields := apikeys.FieldErrors(err)
		if (got == nil) != (c.want == nil) || (got != nil && !got.Equal(*c.want)) || (c.field == "") != (len(fields) == 0) || (c.field != "" && fields[c.field] == "") {
			t.Errorf("%+v: %v %v, want %v (%s)", c.e, got, fields, c.want, c.field)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// skipping stands for a balena that leaves out of a collection write, as
// pinejs does without a word, the rows the caller may read but not change
// (a fleet observer's keys on balenaCloud). The stand-in's users may change
// every key they see, so the keys in locked are taken out of each write
// before it is sent.
type skipping struct {
	apikeys.Balena
	locked []int64
}

func (s skipping) changeable(ids []int64) []int64 {
	return slices.DeleteFunc(slices.Clone(ids), func(id int64) bool { return slices.Contains(s.locked, id) })
}

func (s skipping) UpdateKeys(ctx context.Context, ids []int64, u apiclient.KeyUpdate) error {
	return s.Balena.UpdateKeys(ctx, s.changeable(ids), u)
}

func (s skipping) DeleteKeys(ctx context.Context, ids []int64) error {
	return s.Balena.DeleteKeys(ctx, s.changeable(ids))
}

func (e *env) seedN(t *testing.T, names ...string) []int64 {
	t.Helper()
	var ids []int64
	for _, n := range names {
		ids = append(ids, e.seed(t, balenasim.KindUser, balenasim.DemoEmail, n, nil).ID)
	}
	return ids
}

func failedKeys(r apikeys.BulkResult) (ids []int64, words []string) {
	for _, f := range r.Failures {
		ids, words = append(ids, f.Key.ID), append(words, f.Error())
	}
	return ids, words
}

func TestBulkNamesEveryKeyBalenaLeftUnchanged(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			e := newEnv(t, p)
			ctx := context.Background()
			ids := e.seedN(t, "k0", "k1", "k2", "k3", "k4")
			c := e.user
			c.API = skipping{Balena: e.user.API, locked: []int64{ids[1], ids[3]}}
			keys, err := e.svc.Select(ctx, c, apikeys.Selection{IDs: ids})
			if err != nil || len(keys) != 5 {
				t.Fatalf("select: %d keys, %v", len(keys), err)
			}
			// Revoked in another tab after the confirmation.
			if err := e.user.API.DeleteKey(ctx, ids[4]); err != nil {
				t.Fatal(err)
			}

			e.sim.ResetCounters()
			res, err := e.svc.Bulk(ctx, c, apikeys.BulkExpire, keys)
			if err != nil || res.Done != 2 || len(res.Unknown) != 0 {
				t.Fatalf("expire: %+v %v", res, err)
			}
			gotIDs, words := failedKeys(res)
			wantWords := []string{
				"The key was not expired. balena did not change it (you may not be allowed to).",
				"The key was not expired. balena did not change it (you may not be allowed to).",
				"The key was not expired. That key no longer exists, or you cannot see it.",
			}
			if !slices.Equal(gotIDs, []int64{ids[1], ids[3], ids[4]}) || !slices.Equal(words, wantWords) {
				t.Errorf("failures %v %q", gotIDs, words)
			}
			for i, id := range ids[:4] {
				if r, _ := e.record(t, id); r.Expired(e.now) != (i == 0 || i == 2) {
					t.Errorf("key %d: expiry %v", i, r.ExpiryDate)
				}
			}
			if c := e.sim.Counters(); c.Get("PATCH /v7/api_key") != 1 || c.Get("GET /v7/api_key") != 1 || c.Total() != 2 {
				t.Errorf("balena got %v, want one write and one check", c.ByRoute)
			}
			for i, ev := range e.trail.events {
				if ev.Key.ID != ids[i] || !ev.Verified || !ev.Bulk || (ev.Err == nil) != (i == 0 || i == 2) {
					t.Errorf("event %d: %+v", i, ev)
				}
			}

			keys, _ = e.svc.Select(ctx, c, apikeys.Selection{IDs: ids})
			res, err = e.svc.Bulk(ctx, c, apikeys.BulkRevoke, keys)
			gotIDs, words = failedKeys(res)
			if err != nil || res.Done != 2 || !slices.Equal(gotIDs, []int64{ids[1], ids[3]}) ||
				words[0] != "The key was not revoked. balena did not change it (you may not be allowed to)." {
				t.Errorf("revoke: %+v %v %q", res, err, words)
			}
			for i, id := range ids {
				if _, there := e.record(t, id); there != (i == 1 || i == 3) {
					t.Errorf("key %d there: %v", i, there)
				}
			}
		})
	}
}

func TestBulkWhoseCheckFailsSaysTheOutcomeIsUnknown(t *testing.T) {
	e := newEnv(t, balenasim.ProfileBalenaCloud)
	ctx := context.Background()
	ids := e.seedN(t, "u0", "u1", "u2")
	keys, err := e.svc.Select(ctx, e.user, apikeys.Selection{IDs: ids})
	if err != nil || len(keys) != 3 {
		t.Fatalf("select: %d keys, %v", len(keys), err)
	}
	for _, routes := range [][]string{
		{"GET /v7/api_key"},                      // the write went through, the check failed
		{"PATCH /v7/api_key", "GET /v7/api_key"}, // a 5xx to the write, which a proxy may send after it
	} {
		e.trail.events = nil
		e.sim.SetFaults(balenasim.Faults{ErrorRate: 1, Routes: routes})
		res, err := e.svc.Bulk(ctx, e.user, apikeys.BulkExpire, keys)
		e.sim.SetFaults(balenasim.Faults{})
		if err != nil || res.Done != 0 || len(res.Failures) != 0 || len(res.Unknown) != 3 {
			t.Fatalf("%v: %+v %v", routes, res, err)
		}
		for i, u := range res.Unknown {
			if u.Key.ID != ids[i] || apikeys.Explain(u) != "balena's answer was lost, and the portal could not check whether the key was expired. Look at the key in the list before you try again." ||
				apikeys.Explain(u.Err) != "balena answered with an error. Try again in a moment." {
				t.Errorf("%v: unknown %d: key %d, %q", routes, i, u.Key.ID, apikeys.Explain(u))
			}
		}
		for i, ev := range e.trail.events {
			if ev.Key.ID != ids[i] || ev.Verified || ev.Outcome != apikeys.Unknown {
				t.Errorf("%v: event %d: %+v", routes, i, ev)
			}
		}
	}
	// The first write went through: the stand-in holds the keys expired.
	for _, id := range ids {
		if r, _ := e.record(t, id); !r.Expired(e.now) {
			t.Errorf("key %d: expiry %v", id, r.ExpiryDate)
		}
	}
}

func TestBulkRefusedOutrightIsNotCheckedAgain(t *testing.T) {
	e := newEnv(t, balenasim.ProfileBalenaCloud)
	ctx := context.Background()
	ids := e.seedN(t, "r0", "r1")
	keys, err := e.svc.Select(ctx, e.user, apikeys.Selection{IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	// A session of an API key that the portal did not recognise as one:
	// balena answers the write 401 and changes nothing.
	name := "api key"
	apiKey, _ := e.sim.CreateKey(balenasim.NewKey{Kind: balenasim.KindUser, Owner: balenasim.DemoEmail, Name: &name})
	c := e.user
	c.API = e.client.As(apiKey.Secret)
	e.sim.ResetCounters()
	res, err := e.svc.Bulk(ctx, c, apikeys.BulkRevoke, keys)
	gotIDs, words := failedKeys(res)
	if err != nil || res.Done != 0 || !slices.Equal(gotIDs, ids) || words[1] != "The key was not revoked. balena did not allow this change." {
		t.Errorf("%+v %v %q", res, err, words)
	}
	if n := e.sim.Counters().Get("GET /v7/api_key"); n != 0 {
		t.Errorf("a refused write was checked %d times", n)
	}
	for _, id := range ids {
		if _, there := e.record(t, id); !there {
			t.Errorf("key %d was revoked", id)
		}
	}
}

func TestTrailWordsEachOutcome(t *testing.T) {
	var buf strings.Builder
	tr, err := apikeys.OpenLogTrail(slog.New(slog.NewJSONHandler(&buf, nil)), "")
	if err != nil {
		t.Fatal(err)
	}
	k := apiclient.APIKey{ID: 7, Kind: apiclient.KindUser, Owner: apiclient.Owner{Username: "admin"}}
	ctx := context.Background()
	tr.Record(ctx, apikeys.Event{Action: "expire", Key: k, Bulk: true, Verified: true, Outcome: apikeys.Done})
	tr.Record(ctx, apikeys.Event{Action: "expire", Key: k, Bulk: true, Verified: true, Outcome: apikeys.NotDone, Err: &apikeys.Error{Code: apiclient.CodeForbidden, Message: "balena did not change it (you may not be allowed to)."}})
	tr.Record(ctx, apikeys.Event{Action: "expire", Key: k, Bulk: true, Outcome: apikeys.Unknown, Err: &apiclient.Error{Code: apiclient.CodeTimeout}})
	var got []string
	for line := range strings.Lines(buf.String()) {
		var ev struct {
			Outcome  string `json:"outcome"`
			Verified bool   `json:"verified"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(line, `"verified"`); n > 1 {
			t.Errorf("a line says verified %d times: %s", n, line)
		}
		got = append(got, fmt.Sprintf("%v %s", ev.Verified, ev.Outcome))
	}
	want := []string{
		"true ok",
		"true failed: balena did not change it (you may not be allowed to).",
		"false unknown: balena did not answer in time. Try again in a moment.",
	}
	if !slices.Equal(got, want) {
		t.Errorf("outcomes\n%q\nwant\n%q", got, want)
	}
}

// Issue 12 #5: a device key's device is found by its exact name, its
// full uuid or a prefix of it (7 characters and more, either case); a name
// or prefix of several devices is refused with the candidates.
func TestPlanCreateFindsTheDeviceByNameOrUUIDPrefix(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			e := newEnv(t, p)
			ctx := context.Background()
			dev := aDevice(t, e)
			for _, typed := range []string{dev.DeviceName, " " + dev.DeviceName + " ", dev.DeviceUUID, strings.ToUpper(dev.DeviceUUID[:7]), dev.DeviceUUID[:12]} {
				plan, err := e.svc.PlanCreate(ctx, e.user, apikeys.NewKeyRequest{Kind: "device", Device: typed, Expiry: apikeys.Expiry{Choice: "never"}})
				if err != nil || plan.Key.Owner.DeviceUUID != dev.DeviceUUID || plan.Key.Owner.ActorID != dev.ActorID {
					t.Errorf("%q: %v, owner %+v", typed, err, plan.Key.Owner)
				}
			}
			_, err := e.svc.PlanCreate(ctx, e.user, apikeys.NewKeyRequest{Kind: "device", Device: dev.DeviceUUID[:6], Expiry: apikeys.Expiry{Choice: "never"}})
			if msg := apikeys.FieldErrors(err)["device"]; !strings.Contains(msg, "You cannot reach a device named") {
				t.Errorf("6 characters of a uuid: %q", msg)
			}

			// Two devices of one name: both are named, and nothing is planned.
			twins := e.user
			twins.API = twinDevices{Balena: e.user.API, devices: []apiclient.Device{
				{ID: 1, UUID: "a8abe4719ec868faf1048a7a78763130", DeviceName: "gw-17"},
				{ID: 2, UUID: "0123456789abcdef0123456789abcdef", DeviceName: "gw-17"},
			}}
			_, err = e.svc.PlanCreate(ctx, twins, apikeys.NewKeyRequest{Kind: "device", Device: "gw-17", Expiry: apikeys.Expiry{Choice: "never"}})
			msg := apikeys.FieldErrors(err)["device"]
			if apikeys.Code(err) != apiclient.CodeInvalid || !strings.Contains(msg, "“gw-17” names several devices: gw-17 (a8abe47), gw-17 (0123456)") {
				t.Errorf("two devices named gw-17: %v, %q", err, msg)
			}
		})
	}
}

// twinDevices answers every device lookup with its devices.
type twinDevices struct {
	apikeys.Balena
	devices []apiclient.Device
}

func (t twinDevices) DevicesNamed(context.Context, string, int) ([]apiclient.Device, error) {
	return t.devices, nil
}

// Issue 12 #6: by default a rotation gives the new key as long a life as
// the old key was given when it was made (expiry − created_at), from now;
// when that is not known (never expires, or expired by hand right after
// its creation), 90 days.
func TestRotationDefaultsToAFreshExpiryOfTheOldLength(t *testing.T) {
	e := newEnv(t, balenasim.ProfileBalenaCloud)
	ctx := context.Background()
	seed := func(name string, created time.Time, expiry *time.Time) balenasim.KeyRecord {
		k, err := e.sim.CreateKey(balenasim.NewKey{Kind: balenasim.KindProvisioning, Owner: "acme/plant-3", Name: &name, CreatedAt: created, ExpiryDate: expiry})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	at := func(d time.Duration) *time.Time { t := e.now.Add(d); return &t }
	const day = 24 * time.Hour
	for _, c := range []struct {
		name string
		old  balenasim.KeyRecord
		want time.Duration
	}{
		// Made 27 days ago for 30 days: 3 days are left, the new key gets 30.
		{"30 days, 3 left", seed("thirty", e.now.Add(-27*day), at(3*day)), 30 * day},
		{"a year", seed("year", e.now.Add(-100*day), at(265*day)), 365 * day},
		{"never expires", seed("never", e.now.Add(-10*day), nil), 90 * day},
		{"expired by hand an hour after", seed("by hand", e.now.Add(-10*day), at(-10*day+time.Hour)), 90 * day},
	} {
		plan, err := e.svc.PlanRotate(ctx, e.user, c.old.ID, apikeys.RotateRequest{Expiry: apikeys.Expiry{Choice: apikeys.ExpiryFresh}, Grace: "1d"})
		if err != nil || plan.Expiry == nil || !plan.Expiry.Equal(e.now.Add(c.want)) {
			t.Errorf("%s: %v, new key expires %v, want %v", c.name, err, plan.Expiry, e.now.Add(c.want))
		}
	}
}

func TestStaleSinceIsADayStaleDaysBack(t *testing.T) {
	for now, want := range map[time.Time]string{
		time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC):                         "2026-11-01",
		time.Date(2026, 12, 1, 23, 59, 59, 0, time.UTC):                      "2026-11-01",
		time.Date(2026, 3, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600)):       "2026-01-30", // 00:00 UTC, March 1st
		time.Date(2026, 12, 1, 12, 0, 0, 0, time.FixedZone("NZDT", 13*3600)): "2026-10-31", // still Nov 30 in UTC
	} {
		got := apikeys.StaleSince(now)
		if got.Format(time.DateOnly) != want || got.Location() != time.UTC || got.Hour() != 0 {
			t.Errorf("StaleSince(%v) = %v, want %s 00:00 UTC", now, got, want)
		}
	}
}

// The query of stale device keys selects at balena exactly the keys that
// Silent says are stale, and counts them the same: the keys page and the
// overview agree.
func TestSeenBeforeSelectsTheSilentDevicesKeys(t *testing.T) {
	e := newEnv(t, balenasim.ProfileBalenaCloud)
	ctx := context.Background()
	day := apikeys.StaleSince(e.now)
	all, err := e.user.API.ListKeys(ctx, apiclient.KeyQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for _, k := range all.Keys {
		if apikeys.Silent(k, day) {
			want = append(want, k.ID)
		}
	}
	if len(want) == 0 {
		t.Fatal("the demo has devices silent for 30 days; no key is stale")
	}
	page, err := e.user.API.ListKeys(ctx, apikeys.SeenBefore(day))
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, k := range page.Keys {
		got = append(got, k.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || page.Total != len(want) {
		t.Errorf("seen before %s: %v (total %d), want %v", day.Format(time.DateOnly), got, page.Total, want)
	}
	if n, err := e.user.API.(*apiclient.Session).CountKeys(ctx, apikeys.SeenBefore(day)); err != nil || n != len(want) {
		t.Errorf("count %d, %v; want %d", n, err, len(want))
	}
}

// A bulk revoke of "every key of this view" on a view of silent devices'
// keys revokes those and nothing else.
func TestBulkRevokeOfSilentDevicesKeys(t *testing.T) {
	e := newEnv(t, balenasim.ProfileBalenaCloud)
	ctx := context.Background()
	day := apikeys.StaleSince(e.now)
	var stale, others int
	for _, k := range e.sim.Keys() {
		if k.Kind == balenasim.KindDevice && !k.DeviceOnline && (k.DeviceLastSeen == nil || k.DeviceLastSeen.Before(day)) {
			stale++
		} else {
			others++
		}
	}
	keys, err := e.svc.Select(ctx, e.user, apikeys.Selection{All: true, Query: apikeys.SeenBefore(day)})
	if err != nil || len(keys) != stale || stale == 0 {
		t.Fatalf("selected %d keys (%v), want the %d stale ones", len(keys), err, stale)
	}
	res, err := e.svc.Bulk(ctx, e.user, apikeys.BulkRevoke, keys)
	if err != nil || res.Done != stale || len(res.Failures) != 0 {
		t.Fatalf("bulk: %+v %v", res, err)
	}
	if n := len(e.sim.Keys()); n != others {
		t.Errorf("%d keys left, want %d", n, others)
	}
	if n, err := e.user.API.(*apiclient.Session).CountKeys(ctx, apikeys.SeenBefore(day)); err != nil || n != 0 {
		t.Errorf("stale keys left: %d, %v", n, err)
	}
}
