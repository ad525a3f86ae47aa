package handlers_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
)

// replacement is the newest key other than old with old's actor and name.
func replacement(env *portaltest.Env, old balenasim.KeyRecord) (balenasim.KeyRecord, bool) {
	var found balenasim.KeyRecord
	for _, k := range env.Sim.Keys() {
		if k.ID != old.ID && k.ActorID == old.ActorID && eqPtr(k.Name, old.Name) && eqPtr(k.Description, old.Description) && k.ID > found.ID {
			found = k
		}
	}
	return found, found.ID != 0
}

func eqPtr(a, b *string) bool {
	if a == nil || b == nil {
		return (a == nil || *a == "") && (b == nil || *b == "")
	}
	return *a == *b
}

func simKey(env *portaltest.Env, id int64) balenasim.KeyRecord {
	for _, k := range env.Sim.Keys() {
		if k.ID == id {
			return k
		}
	}
	return balenasim.KeyRecord{}
}

func TestRotateKeepsKindOwnerNameAndRetiresTheOldKey(t *testing.T) {
	for _, c := range []struct {
		kind, grace string
		wait        time.Duration
	}{{"provisioning", "7d", 7 * 24 * time.Hour}, {"device", "now", 0}, {"user", "1h", time.Hour}} {
		t.Run(c.kind, func(t *testing.T) {
			env, b := signedIn(t, portaltest.Options{})
			old := someKey(t, env, b, c.kind)
			id := strconv.FormatInt(old.ID, 10)
			form := b.get("/keys/" + id + "/rotate")
			if !strings.HasPrefix(form.doc.Find("h1").Text(), "Rotate ") {
				t.Fatalf("rotate page: %d %q", form.status, form.doc.Find("h1").Text())
			}
			start := time.Now()
			p := b.submit(form, "form.keyform", map[string]string{"grace": c.grace, "expiry": "30d"})
			if p.status != http.StatusCreated {
				t.Fatalf("status %d\n%s", p.status, p.body)
			}
			nk, ok := replacement(env, old)
			if !ok {
				t.Fatal("no replacement key with the same owner, name and description")
			}
			if secret, _ := p.doc.Find("#secret").Attr("value"); secret != nk.Secret {
				t.Errorf("page shows %q, the new key is %q", secret, nk.Secret)
			}
			if nk.Kind != old.Kind {
				t.Errorf("new key is a %s key", nk.Kind)
			}
			retired := simKey(env, old.ID)
			if retired.ExpiryDate == nil || retired.ExpiryDate.Before(start.Add(c.wait-time.Minute)) || retired.ExpiryDate.After(time.Now().Add(c.wait+time.Minute)) {
				t.Errorf("old key expires %v, want about %v from now", retired.ExpiryDate, c.wait)
			}
			if !strings.Contains(p.doc.Find(".flash-success").Text(), "old key") {
				t.Errorf("no word about the old key: %q", p.doc.Find(".flash").Text())
			}
			// The audit trail links the old key to the new one.
			var line string
			for l := range strings.Lines(env.Logs.String()) {
				if strings.Contains(l, "action=rotate_create") {
					line = l
				}
			}
			if !strings.Contains(line, fmt.Sprintf(" key=%d ", old.ID)) || !strings.Contains(line, fmt.Sprintf(" new_key=%d", nk.ID)) {
				t.Errorf("audit line %q, want key=%d and new_key=%d", line, old.ID, nk.ID)
			}
		})
	}
}

func TestRotateWithAStaleSignInAsksForThePassword(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	stale, _ := env.Sim.IssueToken(balenasim.DemoEmail, time.Now().Add(-time.Hour))
	b := newBrowser(t, env)
	b.submit(b.get("/signin"), "#signin-token", map[string]string{"token": stale})
	old := someKey(t, env, b, "user")
	id := strconv.FormatInt(old.ID, 10)
	prompt := b.submit(b.get("/keys/"+id+"/rotate"), "form.keyform", map[string]string{"grace": "keep", "expiry": "never"})
	if prompt.doc.Find("#k-password").Length() != 1 {
		t.Fatalf("no password prompt:\n%s", prompt.body)
	}
	done := b.submit(prompt, "form.keyform", map[string]string{"password": balenasim.DemoPassword})
	if done.status != http.StatusCreated {
		t.Fatalf("after the password: %d", done.status)
	}
	if nk, ok := replacement(env, old); !ok || nk.ExpiryDate != nil {
		t.Errorf("replacement %+v", nk)
	}
	if still := simKey(env, old.ID); !equalTime(still.ExpiryDate, old.ExpiryDate) {
		t.Error("grace=keep changed the old key")
	}
}

func TestRotateRefusesAnUnknownGrace(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	old := someKey(t, env, b, "provisioning")
	before := len(env.Sim.Keys())
	p := b.submit(b.get("/keys/"+strconv.FormatInt(old.ID, 10)+"/rotate"), "form.keyform", map[string]string{"grace": "forever"})
	if p.status != http.StatusUnprocessableEntity || p.doc.Find(".field-error").Length() == 0 {
		t.Errorf("status %d", p.status)
	}
	if len(env.Sim.Keys()) != before {
		t.Error("a key was made anyway")
	}
}
