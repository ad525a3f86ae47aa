package handlers_test

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

const maxLife = 90 * 24 * time.Hour

func withPolicy(describe bool) portaltest.Options {
	return portaltest.Options{Config: func(c *config.Config) {
		c.PolicyMaxLifetime, c.PolicyRequireDescription = maxLife, describe
	}}
}

func TestAHandPostedPolicyBreachGets422AtTheField(t *testing.T) {
	env, b := signedIn(t, withPolicy(true))
	form := b.get("/keys/new")
	if form.doc.Find("#k-expiry option[value='90d']").Length() != 1 {
		t.Error("the create form does not offer the policy's own 90 days")
	}
	if form.doc.Find("#k-expiry option[value=never]").Length() != 0 || form.doc.Find("#k-expiry option[value='1y']").Length() != 0 {
		t.Error("the create form offers an expiry beyond the policy")
	}
	if note := form.doc.Find("#k-expiry-policy").Text(); note != "Your organization's policy: keys expire within 90 days." {
		t.Errorf("policy note %q", note)
	}
	if max := form.doc.Find("#k-expiry-date").AttrOr("max", ""); max == "" {
		t.Error("the custom date has no max")
	}
	if form.doc.Find("#k-description-policy").Length() != 0 != true {
		t.Error("the description's policy is not shown")
	}

	far := time.Now().AddDate(1, 0, 0)
	key := seedKey(t, env, balenasim.KindProvisioning, "acme/plant-3", "far line", &far)
	id := strconv.FormatInt(key.ID, 10)
	before := len(env.Sim.Keys())
	for _, c := range []struct {
		what, path, field string
		fields            []string
	}{
		{"create never", "/keys/new", "expiry", []string{"kind", "provisioning", "fleet", "acme/plant-3", "name", "kept input", "description", "d", "expiry", "never"}},
		{"create 1y", "/keys/new", "expiry", []string{"kind", "provisioning", "fleet", "acme/plant-3", "name", "kept input", "description", "d", "expiry", "1y"}},
		{"create undescribed", "/keys/new", "description", []string{"kind", "provisioning", "fleet", "acme/plant-3", "name", "kept input", "expiry", "7d"}},
		{"create far custom", "/keys/new", "expiry_date", []string{"kind", "provisioning", "fleet", "acme/plant-3", "name", "kept input", "description", "d", "expiry", "custom", "expiry_date", time.Now().AddDate(0, 0, 100).Format(time.DateOnly)}},
		{"edit", "/keys/" + id + "/edit", "description", []string{"name", "kept input", "description", "", "expiry", "keep"}},
		{"edit never", "/keys/" + id + "/edit", "expiry", []string{"name", "kept input", "description", "d", "expiry", "never"}},
		{"set expiry", "/keys/" + id + "/expiry", "expiry", []string{"expiry", "never"}},
		{"rotate same", "/keys/" + id + "/rotate", "expiry", []string{"grace", "now", "description", "d", "expiry", "same"}},
		{"rotate undescribed", "/keys/" + id + "/rotate", "description", []string{"grace", "now", "expiry", "30d"}},
	} {
		for _, htmx := range []bool{false, true} {
			v := url.Values(formWithCSRF(form, c.fields...))
			var header []string
			if htmx {
				header = []string{"HX-Request", "true"}
			}
			p := b.post(c.path, v, header...)
			words := map[string]string{"expiry": "within 90 days. Choose an expiry on or before", "expiry_date": "within 90 days. Pick a date no later than", "description": "every key has a description. Say what the key is for."}[c.field]
			msg := p.doc.Find(".field-error, .flash").Text()
			if p.status != http.StatusUnprocessableEntity || !strings.Contains(msg, "Your organization's policy: ") || !strings.Contains(msg, words) {
				t.Errorf("%s (htmx %v): %d, %q", c.what, htmx, p.status, msg)
				continue
			}
			inRow := htmx && strings.Contains(c.path, "/ex") || htmx && strings.HasSuffix(c.path, "/edit") && c.field != "description"
			if !inRow && p.doc.Find("[name="+c.field+"][aria-invalid]").Length() == 0 { // the row's editor says it above
				t.Errorf("%s (htmx %v): field %s not marked\n%s", c.what, htmx, c.field, p.body)
			}
			if strings.Contains(c.what, "create") && p.doc.Find("#k-name").AttrOr("value", "") != "kept input" {
				t.Errorf("%s: the form lost its input", c.what)
			}
		}
	}
	if menu, _ := b.get("/keys").doc.Find("#row-menu-template").Html(); !strings.Contains(menu, "Set expiry") || strings.Contains(menu, "Clear expiry") {
		t.Errorf("under a maximum lifetime the row menu still offers Clear expiry:\n%s", menu)
	}
	if p := b.get("/keys/" + id + "/expiry"); p.status != http.StatusUnprocessableEntity || !strings.Contains(p.doc.Find("#k-expiry[aria-invalid] ~ .field-error").Text(), "“never” is not allowed") {
		t.Errorf("clear-expiry confirmation under a policy: %d\n%s", p.status, p.body)
	}
	if after := len(env.Sim.Keys()); after != before {
		t.Errorf("refused posts made %d keys", after-before)
	}
	if r, _ := inSim(env, id); r.ExpiryDate == nil || !r.ExpiryDate.Equal(far.Truncate(time.Millisecond)) || *r.Name != "far line" {
		t.Errorf("refused posts changed the key: %+v", r)
	}
}

func TestPolicyBreachViewIsTheStandInsOwnSet(t *testing.T) {
	env, b := signedIn(t, withPolicy(true))
	visible := map[string]bool{}
	for _, id := range firstIDs(b.get("/keys?per_page=100"), 100) {
		visible[id] = true
	}
	latest := time.Now().Add(maxLife)
	var want []string
	for _, k := range env.Sim.Keys() {
		id := strconv.FormatInt(k.ID, 10)
		if visible[id] && (k.ExpiryDate == nil || k.ExpiryDate.After(latest) || k.Description == nil || *k.Description == "") {
			want = append(want, id)
		}
	}
	p := b.get("/keys?policy=breach&per_page=100")
	got := firstIDs(p, 100)
	slices.Sort(got)
	slices.Sort(want)
	if p.status != 200 || len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("breaches %v, want %v (status %d)", got, want, p.status)
	}
	if count := p.doc.Find(".count").Text(); !strings.Contains(count, "of "+strconv.Itoa(len(want))+" keys") {
		t.Errorf("count %q, want %d", count, len(want))
	}
	if p.doc.Find("#f-policy option[value=breach][selected]").Length() != 1 {
		t.Error("the filter form does not show the policy filter")
	}

	_, plain := signedIn(t, portaltest.Options{})
	p = plain.get("/keys?policy=breach")
	if msg := p.doc.Find("#fe-policy").Text(); p.status != http.StatusBadRequest || !strings.Contains(msg, "No lifetime policy is set") {
		t.Errorf("policy=breach without a policy: %d %q", p.status, msg)
	}
}

func TestBulkSetsEveryBreachToThePolicysMaximum(t *testing.T) {
	// A still clock: the demo seeds keys at exactly the policy's 90 days
	// ("warehouse prov"), on the breach line, and under load the wall clock
	// once changed the breaches between the list and the confirmation
	// (the confirmation said 14 keys, not the list's number).
	clock := portaltest.NewClock(time.Now())
	opts := withPolicy(false)
	opts.Clock = clock
	env, b := signedIn(t, opts)
	view := "/keys?policy=breach"
	list := b.get(view + "&per_page=100")
	ids := firstIDs(list, 100)
	if len(ids) < 3 {
		t.Fatalf("the demo has %d breaches", len(ids))
	}
	if list.doc.Find("#bulk button[value=policy_max]").Length() != 1 {
		t.Fatal("no bulk action to set the policy's maximum")
	}
	confirm := b.post("/keys/bulk", formWithCSRF(list, "action", "policy_max", "all", "1", "return", view))
	if h := confirm.doc.Find("h1").Text(); h != "Limit the lifetime of "+strconv.Itoa(len(ids))+" keys?" {
		t.Fatalf("confirmation %q", h)
	}
	result := b.submit(confirm, "form.actions", nil)
	if result.status != http.StatusOK || result.doc.Find("h1").Text() != "Limited the lifetime of "+strconv.Itoa(len(ids))+" keys" {
		t.Fatalf("result %d %q\n%s", result.status, result.doc.Find("h1").Text(), result.body)
	}
	for _, id := range ids {
		k, _ := inSim(env, id)
		if k.ExpiryDate == nil || k.ExpiryDate.After(clock.Now().Add(maxLife)) || k.ExpiryDate.Before(clock.Now().Add(maxLife-time.Second)) {
			t.Errorf("key %s expires %v", id, k.ExpiryDate)
		}
	}
	if left := b.get(view); left.doc.Find("tbody tr").Length() != 0 {
		t.Errorf("%d breaches left", left.doc.Find("tbody tr").Length())
	}
}
