package handlers_test

import (
	"strings"
	"testing"

	"github.com/keyportal/keyportal/handlers"
	"github.com/keyportal/keyportal/handlers/portaltest"
)

// Every link a page writes goes where Echo's routes say, at the root and
// under a base path, whether its path was looked up once or reversed anew.
func TestURLsAreTheRoutesPaths(t *testing.T) {
	for _, base := range []string{"", "/keyportal"} {
		env := portaltest.Start(t, portaltest.Options{BasePath: base})
		named := 0
		for _, r := range handlers.RoutesOf(env.Portal) {
			if strings.Contains(r.Name, "/") {
				continue // named by Echo after its handler, not by the portal
			}
			for _, params := range [][]any{nil, {handlers.IDSlot}, {int64(42)}} {
				got, want := handlers.URLOf(env.Portal, r.Name, params...), handlers.ReverseOf(env.Portal, r.Name, params...)
				if got != want {
					t.Errorf("base %q, route %q (%s) with %v: %q, Echo reverses %q", base, r.Name, r.Path, params, got, want)
				}
			}
			named++
		}
		if keys := handlers.URLOf(env.Portal, "keys"); keys != base+"/keys" {
			t.Errorf("base %q: the keys page is at %q", base, keys)
		}
		if row := handlers.URLOf(env.Portal, "keys.show", handlers.IDSlot); row != base+"/keys/"+handlers.IDSlot {
			t.Errorf("base %q: a key's page is at %q", base, row)
		}
		if named < 20 {
			t.Errorf("base %q: only %d routes checked", base, named)
		}
	}
}
