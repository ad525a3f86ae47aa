package session

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/keyportal/keyportal/apiclient"
)

// BenchmarkLoad is what loading a signed-in request's session from its
// file costs: as the portal does it (memo), and decoding the cookie and
// the record every time (no-memo), the difference being what the memo
// saves each request.
func BenchmarkLoad(b *testing.B) {
	s, cfg := testStore(b, nil)
	now := time.Now()
	u := &User{Identity: apiclient.Identity{Email: "admin@example.com", Username: "admin"}, SignedInAt: now, LastSeen: now}
	u.SetToken(strings.Repeat("x", 600), now) // about a balena JWT's length
	w := httptest.NewRecorder()
	if err := s.Start(w, httptest.NewRequest("GET", "/", nil), u); err != nil {
		b.Fatal(err)
	}
	cookies := w.Result().Cookies()
	pairs, err := cookieKeyPairs(cfg.SessionKeys)
	if err != nil {
		b.Fatal(err)
	}
	plain := sessions.NewFilesystemStore(filepath.Join(cfg.DataDir, "sessions"), pairs...)
	plain.MaxLength(maxSessionValue)
	for _, v := range []struct {
		name  string
		store *Store
	}{{"memo", s}, {"no-memo", &Store{store: plain}}} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got, err := v.store.Load(browserRequest(cookies)); err != nil || got.Token != u.Token {
					b.Fatalf("%+v, %v", got, err)
				}
			}
		})
	}
}
