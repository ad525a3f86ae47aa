package session

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/internal/redistest"
)

// records returns every session record stored in Redis.
func records(t *testing.T, rs *redistest.Server) []string {
	t.Helper()
	conn, err := redis.Dial("tcp", rs.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	keys, err := redis.Strings(conn.Do("KEYS", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		if !strings.HasPrefix(k, "keyportal:session:") {
			t.Errorf("unexpected Redis key %q", k)
		}
		v, err := redis.String(conn.Do("GET", k))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// browserRequest is a request carrying the cookies a response set, as a
// browser keeps them: the last of each name, none that was deleted.
func browserRequest(cookies []*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/keys", nil)
	kept := map[string]*http.Cookie{}
	for _, c := range cookies {
		kept[c.Name] = c
		if c.MaxAge < 0 {
			delete(kept, c.Name)
		}
	}
	for _, c := range kept {
		r.AddCookie(c)
	}
	return r
}

// Sessions in Redis: one sealed record per session (no readable token or
// email, and no session file besides), replaced by a new sign-in, gone
// with the session; a Redis that goes away is a StoreError, not "no
// session".
func TestRedisRecordsAreSealedAndEndWithTheSession(t *testing.T) {
	rs := redistest.Start(t)
	s, cfg := testStore(t, func(c *config.Config) { c.SessionStore = rs.URL })

	token, claims := "eyJhbGciOiJIUzI1NiJ9.eyJlbWFpbCI6ImFkbWluQGV4YW1wbGUuY29tIn0.c2lnbmF0dXJl", "eyJlbWFpbCI6ImFkbWluQGV4YW1wbGUuY29tIn0"
	email := "admin@example.com"
	start := func(cookies []*http.Cookie, token string) []*http.Cookie {
		t.Helper()
		w := httptest.NewRecorder()
		if err := s.Start(w, browserRequest(cookies), &User{Token: token, Identity: apiclient.Identity{Email: email}}); err != nil {
			t.Fatal(err)
		}
		return w.Result().Cookies()
	}
	first := start(nil, token)
	values := records(t, rs)
	if len(values) != 1 {
		t.Fatalf("%d session records in Redis, want 1", len(values))
	}
	if strings.Contains(values[0], token) || strings.Contains(values[0], claims) || strings.Contains(values[0], email) {
		t.Error("the Redis record is readable: it holds the token or the email")
	}
	if files, _ := filepath.Glob(filepath.Join(cfg.DataDir, "sessions", "session_*")); len(files) != 0 {
		t.Errorf("session files written while Redis is the store: %v", files)
	}
	if u, err := s.Load(browserRequest(first)); err != nil || u.Token != token {
		t.Fatalf("load: %+v, %v", u, err)
	}

	second := start(first, "token-2")
	if n := len(records(t, rs)); n != 1 {
		t.Errorf("%d session records after a second sign-in, want 1", n)
	}
	if u, err := s.Load(browserRequest(first)); err != nil || u != nil {
		t.Errorf("the first session after a second sign-in: %+v, %v", u, err)
	}
	if err := s.End(httptest.NewRecorder(), browserRequest(second)); err != nil {
		t.Fatal(err)
	}
	if n := len(records(t, rs)); n != 0 {
		t.Errorf("%d session records left in Redis after the session ended", n)
	}

	third := start(nil, token)
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("ping with Redis up: %v", err)
	}
	rs.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err == nil {
		t.Error("ping with Redis gone: no error")
	}
	if _, err := s.Load(browserRequest(third)); !errors.As(err, new(StoreError)) {
		t.Errorf("load with Redis gone: %v, want a StoreError", err)
	}
}

// A store whose Redis is away when it opens (failed over, upgraded) opens
// all the same: sessions fail as a StoreError, and the log says so once,
// without the URL's password. Once Redis answers on its address, the same
// store keeps sessions, and the log says that once too.
func TestRedisAwayAtStartIsUsedOnceItAnswers(t *testing.T) {
	rs := redistest.Start(t)
	rs.Stop()
	var logs bytes.Buffer
	cfg := config.Default()
	cfg.DataDir, cfg.SessionKeys = t.TempDir(), [][]byte{[]byte(testSecret)}
	cfg.SessionStore = strings.Replace(rs.URL, "redis://", "redis://:hunter2-secret@", 1)
	s, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("a Redis away at start stops the store: %v", err)
	}
	t.Cleanup(func() { s.Close() })

	ctx := context.Background()
	u := &User{SignedInAt: time.Now()}
	for range 3 {
		if err := s.Usable(ctx); !errors.As(err, new(StoreError)) {
			t.Errorf("Usable with Redis away: %v", err)
		}
		if err := s.Start(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/signin", nil), u); !errors.As(err, new(StoreError)) {
			t.Errorf("a sign-in with Redis away: %v", err)
		}
	}
	if n := strings.Count(logs.String(), "session store unavailable"); n != 1 || strings.Contains(logs.String(), "hunter2") {
		t.Errorf("the log says the store is unavailable %d times (want once, without the password):\n%s", n, logs.String())
	}

	rs.Restart(t)
	conn, err := redis.Dial("tcp", rs.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Do("CONFIG", "SET", "requirepass", "hunter2-secret"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if err := s.Usable(ctx); err != nil {
		t.Fatalf("Usable once Redis is back: %v", err)
	}
	w := httptest.NewRecorder()
	if err := s.Start(w, httptest.NewRequest(http.MethodPost, "/signin", nil), u); err != nil {
		t.Fatalf("a sign-in once Redis is back: %v", err)
	}
	if got, err := s.Load(browserRequest(w.Result().Cookies())); err != nil || got == nil {
		t.Errorf("the session kept once Redis is back: %v, %v", got, err)
	}
	if n := strings.Count(logs.String(), "session store reachable"); n != 1 {
		t.Errorf("the log says the store is back %d times, want once:\n%s", n, logs.String())
	}
}
