package handlers_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
)

// /readyz checks what a sign-in needs: that a session file can be
// written. A session directory that is there but takes no files (here a
// link to /proc, where not even root may create one) is not ready, as
// every sign-in would get a 503.
func TestReadyzChecksTheSessionDirectoryIsWritable(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	b := newBrowser(t, env)
	if p := b.get("/readyz"); p.status != http.StatusOK {
		t.Fatalf("/readyz: %d %q", p.status, p.body)
	}
	dir := filepath.Join(env.DataDir(), "sessions")
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc/self", dir); err != nil {
		t.Fatal(err)
	}
	if p := b.signIn(balenasim.DemoEmail, balenasim.DemoPassword); p.status != http.StatusServiceUnavailable {
		t.Errorf("sign-in with an unwritable session directory: %d", p.status)
	}
	if p := b.get("/readyz"); p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "session store") {
		t.Errorf("/readyz with an unwritable session directory: %d %q", p.status, p.body)
	}

	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/readyz"); p.status != http.StatusOK {
		t.Errorf("/readyz once the directory is back: %d %q", p.status, p.body)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the probes left files: %d", len(entries))
	}
}
