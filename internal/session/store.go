package session

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/boj/redistore"
	"github.com/gomodule/redigo/redis"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/keyportal/keyportal/internal/config"
)

const (
	sessionCookie = "keyportal_session"
	sessionValue  = "user"
	// sessionMaxAge is the cookie's life and the server-side record's
	// longest: a balena session token's seven days. The idle timeout and
	// the token's own expiry end a session sooner.
	sessionMaxAge = 7 * 24 * time.Hour
	// sweepEvery is how often expired session files are deleted.
	sweepEvery = 10 * time.Minute
	// maxSessionValue bounds one encoded server-side session record.
	maxSessionValue = 16 << 10
)

// StoreError is a session store that cannot be reached (Redis down, data
// directory unreadable): the user is told to retry, not signed out.
type StoreError struct{ Err error }

func (e StoreError) Error() string { return "session store: " + e.Err.Error() }
func (e StoreError) Unwrap() error { return e.Err }

// Store keeps Users server-side behind gorilla/sessions: in files under
// the data directory, or in Redis for several replicas. Either way the
// cookie holds only the session id, encrypted and signed with the session
// keys, and the stored record is encrypted with the same keys.
type Store struct {
	store sessions.Store
	opts  sessions.Options
	idle  time.Duration
	log   *slog.Logger
	close func() error
	// ping tells /readyz whether the store can be used: Redis answers, or
	// a session file can be written.
	ping func(ctx context.Context) error
	// remote is a store over the network (Redis), which may be away for a
	// while; files are there or broken.
	remote bool
	// reach logs Redis going away and coming back, once each.
	reach reachability
	// signOuts records when each account signed out everywhere.
	signOuts signOuts
}

// New opens the store cfg names: Redis when cfg.SessionStore is set, else
// files under cfg.DataDir. Close releases it. A Redis that does not answer
// is no error: replicas restart while Redis is failed over or upgraded, and
// each request connects anew until it answers (Ping says meanwhile).
func New(cfg config.Config, log *slog.Logger) (*Store, error) {
	secrets := cfg.SessionKeys
	if len(secrets) == 0 {
		// Demo only (Validate refuses this otherwise): sessions end with the process.
		secrets = [][]byte{securecookie.GenerateRandomKey(48)}
	}
	pairs, err := cookieKeyPairs(secrets)
	if err != nil {
		return nil, err
	}
	s := &Store{
		idle:  cfg.IdleTimeout,
		log:   log,
		reach: reachability{log: log},
		opts: sessions.Options{
			Path:     cfg.CookiePath(),
			MaxAge:   int(sessionMaxAge.Seconds()),
			HttpOnly: true,
			Secure:   cfg.CookieSecure,
			SameSite: http.SameSiteLaxMode,
		},
	}
	memo := newSessionMemo(cfg.Clock())
	if cfg.SessionStore != "" {
		err = s.openRedis(cfg.SessionStore, pairs, memo)
	} else {
		err = s.openFiles(filepath.Join(cfg.DataDir, "sessions"), pairs, memo, cfg.Clock())
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// IdleTimeout is how long a session may go unused before it ends; zero
// means never.
func (s *Store) IdleTimeout() time.Duration { return s.idle }

// Ping reports whether the store can be used now.
func (s *Store) Ping(ctx context.Context) error { return s.ping(ctx) }

// Usable is a StoreError when a Redis store does not answer now, so that a
// sign-in says so before anyone types a password; files are not tried
// (Ping does that, writing one), as a page anyone may load should not write.
func (s *Store) Usable(ctx context.Context) error {
	if !s.remote {
		return nil
	}
	if err := s.ping(ctx); err != nil {
		return StoreError{err}
	}
	return nil
}

// Close releases the store's connections, or stops its sweeper.
func (s *Store) Close() error { return s.close() }

// openFiles keeps sessions in files (gorilla's FilesystemStore encrypts
// each with the session keys) and deletes expired ones every sweepEvery.
func (s *Store) openFiles(dir string, pairs [][]byte, memo *sessionMemo, now func() time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("session directory: %w", err)
	}
	fs := newFileStore(dir, memo.wrap(sealingCodecs(pairs, s.opts.MaxAge)), s.opts)
	s.store = fs
	s.signOuts = fileSignOuts{fs}
	// What a sign-in needs: a session file can be written in the directory.
	s.ping = func(context.Context) error { return fs.probe() }

	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				s.sweep(dir, now())
			}
		}
	}()
	var once sync.Once
	s.close = func() error {
		once.Do(func() { close(stop); <-done })
		return nil
	}
	return nil
}

// sweep deletes session files nobody can use any more: untouched for
// longer than the idle timeout (the web layer refuses them) or the
// cookie's life, and the sign-out records that no usable session is older
// than. Sessions in use are rewritten at least every
// touchInterval.
func (s *Store) sweep(dir string, now time.Time) (removed int) {
	limit := sessionMaxAge
	if s.idle > 0 && s.idle+touchInterval(s.idle) < limit {
		limit = s.idle + touchInterval(s.idle)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.log.Warn("sweeping session files", slog.String("error", err.Error()))
		return 0
	}
	for _, e := range entries {
		// A sign-out record is needed as long as a session it ends could
		// still be used; a temporary file older than a sweep was left by a
		// crash.
		oldest := limit
		switch {
		case strings.HasPrefix(e.Name(), tempFilePrefix):
			oldest = sweepEvery
		case !strings.HasPrefix(e.Name(), sessionFilePrefix) && !strings.HasPrefix(e.Name(), signOutFilePrefix):
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) <= oldest {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
			removed++
		}
	}
	if removed > 0 {
		s.log.Info("swept expired sessions", slog.Int("removed", removed))
	}
	return removed
}

// openRedis keeps sessions in Redis through boj/redistore. Records expire
// with the cookie (Redis TTL); each is encrypted with the session keys, so
// the Redis server never holds a readable balena token.
func (s *Store) openRedis(rawURL string, pairs [][]byte, memo *sessionMemo) error {
	pool := &redis.Pool{
		MaxIdle:     8,
		IdleTimeout: 4 * time.Minute,
		// Each connection is dialled when a request needs one: a Redis
		// that is away is reached again once it answers. The caller's
		// context bounds the dial too (/readyz waits 3 s at most).
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			c, err := redis.DialURLContext(ctx, rawURL,
				redis.DialConnectTimeout(5*time.Second),
				redis.DialReadTimeout(5*time.Second),
				redis.DialWriteTimeout(5*time.Second))
			s.reach.observe(ctx, err)
			return c, err
		},
		TestOnBorrow: func(c redis.Conn, idleSince time.Time) error {
			if time.Since(idleSince) < time.Minute {
				return nil
			}
			_, err := c.Do("PING")
			return err
		},
	}
	// Its error is a PING that failed (Redis away), which Dial has logged;
	// config.Validate has refused a URL no retry would mend.
	rs, _ := redistore.NewRediStoreWithPool(pool, pairs...)
	opts := s.opts
	rs.Options = &opts
	rs.SetMaxAge(opts.MaxAge)
	rs.SetKeyPrefix("keyportal:session:")
	rs.SetMaxLength(maxSessionValue)
	rs.Codecs = memo.wrap(rs.Codecs)
	rs.SetSerializer(sealed{memo.wrap(sealingCodecs(pairs, opts.MaxAge))})
	s.store = rs
	s.signOuts = redisSignOuts{pool}
	s.close = rs.Close
	s.remote = true
	s.ping = func(ctx context.Context) error {
		conn, err := pool.GetContext(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = redis.DoContext(conn, ctx, "PING")
		s.reach.observe(ctx, err)
		return err
	}
	return nil
}

// reachability logs Redis going away and coming back once each, however
// many requests meet it meanwhile, so that an outage is a line, not a flood.
type reachability struct {
	log   *slog.Logger
	mu    sync.Mutex
	known bool // a connection has been tried
	down  bool
}

func (r *reachability) observe(ctx context.Context, err error) {
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		// The caller gave up (a closed page): that says nothing of Redis.
		// A deadline that passed does: Redis did not answer in time.
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	down := err != nil
	if r.known && down == r.down {
		return
	}
	first := !r.known
	r.known, r.down = true, down
	switch {
	case down:
		// Dial errors name the host and port, never the URL's password.
		r.log.Warn("session store unavailable: sign-ins wait until Redis answers", slog.String("error", err.Error()))
	case !first:
		r.log.Info("session store reachable: Redis answers again")
	}
}

// sealingCodecs encrypt and authenticate a session record (or its id in
// the cookie) with the session keys, newest first, for maxAge seconds.
func sealingCodecs(pairs [][]byte, maxAge int) []securecookie.Codec {
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, c := range codecs {
		c.(*securecookie.SecureCookie).MaxAge(maxAge).MaxLength(maxSessionValue)
	}
	return codecs
}

// sealed encrypts and authenticates a session record with the session
// keys, as the file store does, so rotation works alike for both.
type sealed struct{ codecs []securecookie.Codec }

func (z sealed) Serialize(ss *sessions.Session) ([]byte, error) {
	v, err := securecookie.EncodeMulti(ss.Name(), ss.Values, z.codecs...)
	return []byte(v), err
}

func (z sealed) Deserialize(d []byte, ss *sessions.Session) error {
	return securecookie.DecodeMulti(ss.Name(), string(d), &ss.Values, z.codecs...)
}

// Load returns the browser's session, or nil when it has none. A cookie
// that fails to decode (an old key, tampering) or names a session that no
// longer exists is no session; a store that cannot answer is a StoreError.
func (s *Store) Load(r *http.Request) (*User, error) {
	sess, err := s.store.Get(r, sessionCookie)
	if err != nil {
		var se securecookie.Error
		if errors.Is(err, fs.ErrNotExist) || (errors.As(err, &se) && se.IsDecode()) {
			return nil, nil
		}
		return nil, StoreError{err}
	}
	u, _ := sess.Values[sessionValue].(*User)
	return u, nil
}

// Start replaces whatever session the browser had with a new one under a
// new id, so that an id planted before sign-in is worthless after it.
func (s *Store) Start(w http.ResponseWriter, r *http.Request, u *User) error {
	if err := s.End(w, r); err != nil {
		return err
	}
	sess := sessions.NewSession(s.store, sessionCookie)
	opts := s.opts
	sess.Options = &opts
	sess.IsNew = true
	sess.Values[sessionValue] = u
	if err := sess.Save(r, w); err != nil {
		return StoreError{err}
	}
	return nil
}

// Save writes u back under the browser's current session id.
func (s *Store) Save(w http.ResponseWriter, r *http.Request, u *User) error {
	sess, err := s.store.Get(r, sessionCookie)
	if err != nil && sess == nil {
		return StoreError{err}
	}
	sess.Values[sessionValue] = u
	if err := sess.Save(r, w); err != nil {
		return StoreError{err}
	}
	return nil
}

// End deletes the server-side session and clears the cookie.
func (s *Store) End(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.store.Get(r, sessionCookie)
	if err != nil || sess.IsNew {
		return nil
	}
	sess.Options.MaxAge = -1
	if err := sess.Save(r, w); err != nil && !errors.Is(err, os.ErrNotExist) {
		return StoreError{err}
	}
	return nil
}
