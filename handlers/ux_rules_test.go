package handlers_test

import (
	"strings"
	"testing"

	"github.com/keyportal/keyportal/handlers/portaltest"
)

// Issue 12 #15: balena has no scopes for user keys; the form says so
// beside "User key", so nobody looks for them.
func TestCreateFormSaysUserKeysHaveNoScopes(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	p := b.get("/keys/new")
	note := p.doc.Find("fieldset.kinds #k-user-power").Text()
	if !strings.Contains(note, "full power of your account") || !strings.Contains(note, "no scopes") {
		t.Errorf("no word on the power of user keys beside the kind: %q", note)
	}
}
