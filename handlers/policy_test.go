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

// Under a maximum lifetime, the edit form of a key that already breaks it
// says so beside the expiry (its "keep" choice too), lets a rename keep
// the expiry, and mends the key in one click: its expiry set to the
// latest day the policy allows. A key that keeps the policy gets none of it.
func TestEditingAKeyThatBreaksThePolicySaysSoAndMendsItInOneClick(t *testing.T) {
	env, b := signedIn(t, withPolicy(false))
	later, soon := time.Now().AddDate(2, 0, 0), time.Now().AddDate(0, 0, 30)
	for _, c := range []struct {
		name   string
		expiry *time.Time
		says   string
	}{{"breaks-by-never", nil, "it never expires"}, {"breaks-by-far", &later, "later than the policy allows"}} {
		k := seedKey(t, env, balenasim.KindProvisioning, "acme/plant-3", c.name, c.expiry)
		id := strconv.FormatInt(k.ID, 10)
		view := "/keys?q=" + c.name
		edit := b.get(keyURL(k) + "/edit?return=" + url.QueryEscape(view))
		note := edit.doc.Find("form.keyform #k-breach").Text()
		if !strings.Contains(note, "This key breaks your organization's policy (keys expire within 90 days): ") || !strings.Contains(note, c.says) {
			t.Errorf("%s: the form says %q", c.name, note)
		}
		if keep := edit.doc.Find("#k-expiry option[value=keep]").Text(); !strings.HasSuffix(keep, ", breaks the policy)") {
			t.Errorf("%s: the keep choice reads %q", c.name, keep)
		}
		// The row's editor (htmx), which has no expiry field, says so too,
		// and links to the form.
		row := b.get(keyURL(k)+"/edit?return="+url.QueryEscape(view), "HX-Request", "true")
		if w := row.doc.Find("form.inline-edit .flash-warning"); !strings.Contains(w.Text(), "This key breaks your organization's policy") ||
			w.Find("a").AttrOr("href", "") != keyURL(k)+"/edit?return="+url.QueryEscape(view) {
			t.Errorf("%s: the row's editor says %q, links to %q", c.name, w.Text(), w.Find("a").AttrOr("href", ""))
		}
		// A rename keeps the expiry it had.
		if p := b.submit(edit, "form.keyform", map[string]string{"name": c.name + "-renamed"}); p.status >= 400 {
			t.Errorf("%s: a rename is refused: %d %q", c.name, p.status, flashText(p))
		}
		if got, _ := inSim(env, id); got.Name == nil || *got.Name != c.name+"-renamed" || !sameExpiry(got.ExpiryDate, c.expiry) {
			t.Errorf("%s: after a rename: name %v, expiry %v", c.name, got.Name, got.ExpiryDate)
		}
		// The one-click fix: the button of the note submits its own form.
		if edit.doc.Find("#k-breach button[form=k-fix]").Length() != 1 {
			t.Fatalf("%s: no one-click fix in the note", c.name)
		}
		fixed := b.submit(edit, "form#k-fix", nil)
		got, _ := inSim(env, id)
		if got.ExpiryDate == nil || got.ExpiryDate.After(time.Now().Add(maxLife)) || got.ExpiryDate.Before(time.Now().Add(maxLife-48*time.Hour)) {
			t.Errorf("%s: after the fix (%d %q) it expires %v", c.name, fixed.status, flashText(fixed), got.ExpiryDate)
		}
		if again := b.get(keyURL(k) + "/edit"); again.doc.Find("#k-breach, form#k-fix").Length() != 0 {
			t.Errorf("%s: the mended key's form still says it breaks the policy", c.name)
		}
	}
	ok := seedKey(t, env, balenasim.KindProvisioning, "acme/plant-3", "keeps-the-policy", &soon)
	edit := b.get(keyURL(ok) + "/edit")
	row := b.get(keyURL(ok)+"/edit", "HX-Request", "true")
	if edit.doc.Find("#k-breach, form#k-fix").Length() != 0 || strings.Contains(edit.doc.Find("#k-expiry option[value=keep]").Text(), "breaks") ||
		row.doc.Find(".flash-warning").Length() != 0 {
		t.Error("a key that keeps the policy is said to break it")
	}
}

// sameExpiry reports whether two expiries (nil: never) are the same
// moment, as balena keeps it (to the millisecond).
func sameExpiry(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Sub(*b).Abs() < time.Millisecond
}
