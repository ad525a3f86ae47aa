package session

import (
	"bytes"
	"encoding/gob"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/internal/config"
)

const testSecret = "a session secret of at least thirty-two characters"

// testStore opens a store on a data directory of the test's own, with the
// settings change makes, and closes it when the test ends.
func testStore(tb testing.TB, change func(*config.Config)) (*Store, config.Config) {
	tb.Helper()
	cfg := config.Default()
	cfg.DataDir, cfg.SessionKeys = tb.TempDir(), [][]byte{[]byte(testSecret)}
	if change != nil {
		change(&cfg)
	}
	s, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, cfg
}

// Sessions stored before User moved into this package (testdata holds
// one, gob-encoded by that version) load as Users, so an upgrade signs
// nobody out.
func TestSessionsStoredBeforeTheMoveStillLoad(t *testing.T) {
	data, err := os.ReadFile("testdata/user-before-move.gob")
	if err != nil {
		t.Fatal(err)
	}
	var values map[any]any
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&values); err != nil {
		t.Fatal(err)
	}
	u, ok := values[sessionValue].(*User)
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	if !ok || u.Token != "token-1" || u.Identity.Email != "admin@example.com" || !u.LastSeen.Equal(at) ||
		!u.CanChangeKeys || !u.CanCreateUserKeys || u.Next != "/keys?kind=user" {
		t.Fatalf("decoded %#v", values[sessionValue])
	}
	// Written under the same name, a record stays readable by a replica
	// still running the earlier version during a rolling upgrade.
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(values); err != nil || !bytes.Contains(buf.Bytes(), []byte("*handlers.userSession")) {
		t.Errorf("re-encoded under another name (%v): a version before the move could not read it", err)
	}
}

// A signed value reads back only unchanged, for its own purpose and key,
// and within its age.
func TestSigner(t *testing.T) {
	cfg := config.Default()
	cfg.SessionKeys = [][]byte{[]byte(testSecret)}
	flash := NewSigner(cfg, "flash", time.Minute)
	v, err := flash.Encode("keyportal_flash", `{"kind":"success"}`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := flash.Decode("keyportal_flash", v); err != nil || got != `{"kind":"success"}` {
		t.Errorf("round trip: %q, %v", got, err)
	}
	if _, err := flash.Decode("keyportal_flash", v[:len(v)-2]+"AA"); err == nil {
		t.Error("a tampered value decodes")
	}
	if _, err := NewSigner(cfg, "other", time.Minute).Decode("keyportal_flash", v); err == nil {
		t.Error("a value signed for one purpose decodes for another")
	}
	cfg.SessionKeys = [][]byte{[]byte(strings.Repeat("z", 32))}
	if _, err := NewSigner(cfg, "flash", time.Minute).Decode("keyportal_flash", v); err == nil {
		t.Error("a value signed with another secret decodes")
	}
}
