package session

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorilla/sessions"
)

// replicaFiles opens a file store on dir as a replica would.
func replicaFiles(t *testing.T, dir string) *fileStore {
	t.Helper()
	pairs, err := cookieKeyPairs([][]byte{[]byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	fs := sessions.NewFilesystemStore(dir, pairs...)
	fs.Codecs = newSessionMemo(time.Now).wrap(fs.Codecs)
	return newFileStore(dir, fs)
}

func TestSessionFilesChangedElsewhereAreReadAgain(t *testing.T) {
	dir := t.TempDir()
	a, b := replicaFiles(t, dir), replicaFiles(t, dir)

	// b saves a session; the browser's next request goes to a.
	rec := httptest.NewRecorder()
	sess := sessions.NewSession(b, sessionCookie)
	sess.Options = &sessions.Options{Path: "/", MaxAge: 3600}
	sess.Values[sessionValue] = &User{Token: "token-1"}
	if err := sess.Save(httptest.NewRequest("GET", "/", nil), rec); err != nil {
		t.Fatal(err)
	}
	cookie := rec.Result().Cookies()[0]
	file := filepath.Join(dir, "session_"+sess.ID)
	load := func(s *fileStore) (*User, error) {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(cookie)
		got, err := s.New(r, sessionCookie)
		if err != nil {
			return nil, err
		}
		u, _ := got.Values[sessionValue].(*User)
		return u, nil
	}
	rewrite := func(token string, mod time.Time) {
		t.Helper()
		sess.Values[sessionValue] = &User{Token: token}
		if err := sess.Save(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder()); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(file, mod, mod); err != nil {
			t.Fatal(err)
		}
	}

	// A file written "just now" (here: stamped a minute ahead) may be
	// rewritten within the same timestamp tick, so it is read every time,
	// even when a same-size rewrite keeps its time.
	soon := time.Now().Add(time.Minute).Truncate(time.Second)
	rewrite("token-1", soon)
	if u, err := load(a); err != nil || u.Token != "token-1" {
		t.Fatalf("first load: %+v, %v", u, err)
	}
	rewrite("token-2", soon)
	if u, err := load(a); err != nil || u.Token != "token-2" {
		t.Fatalf("a same-tick rewrite was missed: %+v, %v", u, err)
	}

	// A settled file is trusted while unchanged, and read again as soon
	// as the other replica writes it.
	settled := time.Now().Add(-time.Hour).Truncate(time.Second)
	rewrite("token-3", settled)
	if u, err := load(a); err != nil || u.Token != "token-3" {
		t.Fatalf("settled file: %+v, %v", u, err)
	}
	u, _ := load(a)
	u.Token = "changed by a request on a"
	if u, err := load(a); err != nil || u.Token != "token-3" {
		t.Fatalf("a request's change leaked into the next: %+v, %v", u, err)
	}
	rewrite("token-4", time.Now())
	if u, err := load(a); err != nil || u.Token != "token-4" {
		t.Fatalf("rewritten by the other replica: %+v, %v", u, err)
	}

	// Signed out on the other replica: the file is gone, so is the session.
	sess.Options.MaxAge = -1
	if err := sess.Save(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	if _, err := load(a); !os.IsNotExist(err) {
		t.Fatalf("after sign-out elsewhere: %v", err)
	}
}
