package session

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fullDisk writes half of what it is given, then fails as a full disk
// does.
func fullDisk(f *os.File, b []byte) (int, error) {
	n, _ := f.Write(b[:len(b)/2])
	return n, syscall.ENOSPC
}

// requestWith is a request carrying the cookies w set.
func requestWith(w *httptest.ResponseRecorder) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/keys", nil)
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	return r
}

// A session write that fails half-way (disk full) leaves the session as
// it was: rewriting an existing session keeps the old record whole, and a
// new session leaves no file at all. No temporary file is left behind.
func TestFailedSessionWriteKeepsTheOldSession(t *testing.T) {
	s, cfg := testStore(t, nil)
	dir := filepath.Join(cfg.DataDir, "sessions")
	fs := s.store.(*fileStore)
	now := time.Now()
	old := &User{Token: "token-old", LastSeen: now}
	w := httptest.NewRecorder()
	if err := s.Start(w, httptest.NewRequest(http.MethodPost, "/signin", nil), old); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(dir)

	fs.write = fullDisk
	if err := s.Save(httptest.NewRecorder(), requestWith(w), &User{Token: "token-new", LastSeen: now.Add(time.Minute)}); err == nil {
		t.Fatal("a write on a full disk succeeded")
	}
	u, err := s.Load(requestWith(w))
	if err != nil || u == nil || u.Token != "token-old" || !u.LastSeen.Equal(old.LastSeen) {
		t.Fatalf("after a failed rewrite: %+v, %v; want the old session", u, err)
	}
	if err := s.Start(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/signin", nil), &User{Token: "token-other"}); err == nil {
		t.Fatal("a new session on a full disk succeeded")
	}
	if after, _ := os.ReadDir(dir); len(after) != len(before) {
		t.Errorf("files after the failed writes: %v, want %v", names(after), names(before))
	}
	if err := s.Ping(t.Context()); err == nil || !strings.Contains(err.Error(), "no space") {
		t.Errorf("ping on a full disk: %v", err)
	}

	fs.write = (*os.File).Write
	if err := s.Save(httptest.NewRecorder(), requestWith(w), &User{Token: "token-new"}); err != nil {
		t.Fatal(err)
	}
	if u, err := s.Load(requestWith(w)); err != nil || u == nil || u.Token != "token-new" {
		t.Errorf("after the disk has room again: %+v, %v", u, err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("ping: %v", err)
	}
}

func names(entries []os.DirEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// A temporary file a crash left behind is swept once it is older than a
// sweep; one being written now is not. A record of an account signing out
// everywhere goes when no session it could end is left (here, 8 hours
// idle).
func TestSweepRemovesLeftoverTemporaryFiles(t *testing.T) {
	s, cfg := testStore(t, nil)
	dir := filepath.Join(cfg.DataDir, "sessions")
	now := time.Now()
	writeAged(t, dir, now, map[string]time.Duration{".tmp-crashed": -time.Hour, ".tmp-writing": 0, "signout_7": -30 * 24 * time.Hour, "signout_8": -time.Hour})
	if n := s.sweep(dir, now); n != 2 {
		t.Errorf("swept %d files, want 2", n)
	}
	for _, kept := range []string{".tmp-writing", "signout_8"} {
		if _, err := os.Stat(filepath.Join(dir, kept)); err != nil {
			t.Errorf("%s was swept: %v", kept, err)
		}
	}
}
