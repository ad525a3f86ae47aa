package session

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyportal/keyportal/internal/config"
)

// The file store deletes the files of sessions nobody can use any more
// (untouched for longer than the idle timeout) and keeps the others.
func TestSweepDeletesOnlyDeadSessionFiles(t *testing.T) {
	s, cfg := testStore(t, func(c *config.Config) { c.IdleTimeout = time.Hour })
	dir := filepath.Join(cfg.DataDir, "sessions")
	info, err := os.Stat(dir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("session directory: %v %v, want mode 0700", info.Mode(), err)
	}
	now := time.Now()
	files := map[string]time.Duration{
		"session_live":    -10 * time.Minute,
		"session_edge":    -time.Hour,
		"session_dead":    -2 * time.Hour,
		"session_ancient": -30 * 24 * time.Hour,
		"unrelated":       -30 * 24 * time.Hour,
	}
	writeAged(t, dir, now, files)
	if n := s.sweep(dir, now); n != 2 {
		t.Errorf("swept %d files, want 2", n)
	}
	for name := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		gone := os.IsNotExist(err)
		if want := name == "session_dead" || name == "session_ancient"; gone != want {
			t.Errorf("%s: gone = %v, want %v", name, gone, want)
		}
	}
}

// writeAged writes each file of files in dir, last changed its age before
// now.
func writeAged(t *testing.T, dir string, now time.Time, files map[string]time.Duration) {
	t.Helper()
	for name, age := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, now.Add(age), now.Add(age)); err != nil {
			t.Fatal(err)
		}
	}
}
