package handlers

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/gob"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/boj/redistore"
	"github.com/gomodule/redigo/redis"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/config"
)

const (
	sessionCookie = "keyportal_session"
	sessionValue  = "user"
	ctxUser       = "user"
	// touchEvery bounds how often a request rewrites its session to record
	// activity for the idle timeout: once a minute is precise enough.
	touchEvery = time.Minute
	// sessionMaxAge is the cookie's life and the server-side record's
	// longest: a balena session token's seven days. The idle timeout and
	// the token's own expiry end a session sooner.
	sessionMaxAge = 7 * 24 * time.Hour
	// refreshAfter is the age at which a session token is exchanged for a
	// new one, as balena's own SDK does.
	refreshAfter = 24 * time.Hour
	// partialFor is how long a password sign-in waits for its 2FA code.
	partialFor = 10 * time.Minute
	// sweepEvery is how often expired session files are deleted.
	sweepEvery = 10 * time.Minute
	// maxSessionValue bounds one encoded server-side session record.
	maxSessionValue = 16 << 10
)

// userSession is what the server keeps for a browser. It lives in the
// session store, never in the cookie, which carries only an opaque id.
type userSession struct {
	Token       string // the balena session token or API key
	APIKey      bool   // Token is an API key, not a session JWT
	Identity    apiclient.Identity
	SignedInAt  time.Time
	LastSeen    time.Time
	Expires     time.Time // the token's own expiry; zero for API keys
	TokenIssued time.Time // the session token's iat, for its refresh

	// What the credentials let the portal do, decided at sign-in: an API key
	// cannot create user keys, nor change or revoke keys (open-balena and
	// the stand-in refuse its PATCH and DELETE).
	CanCreateUserKeys bool
	CanChangeKeys     bool

	// A sign-in waiting for its two-factor code.
	PartialToken string
	PartialEmail string
	// Next is where a sign-in goes when it is done: the page that sent the
	// browser to sign in, such as a shared link to a filtered view.
	Next string

	// The last refresh that failed for a passing reason (balena slow or
	// down): the next try waits a minute.
	RefreshFailed time.Time
}

func init() { gob.Register(&userSession{}) }

// signedIn reports whether the session holds a usable token.
func (u *userSession) signedIn() bool { return u != nil && u.Token != "" }

// setToken stores a session token and what its claims say about its life.
// Use it for every new token (sign-in, refresh, password confirmation).
func (u *userSession) setToken(token string, now time.Time) {
	u.Token, u.APIKey = token, false
	u.Expires, u.TokenIssued = time.Time{}, now
	if claims, ok := apiclient.ParseClaims(token); ok {
		u.Expires = claims.Expires
		if !claims.IssuedAt.IsZero() {
			u.TokenIssued = claims.IssuedAt
		}
	} else {
		u.APIKey = true
	}
	u.CanCreateUserKeys, u.CanChangeKeys = !u.APIKey, !u.APIKey
}

// refreshDue reports whether the session token should be exchanged for a
// new one: once it is a day old, or half-way through its life when balena
// issues shorter-lived tokens (open-balena can).
func (u *userSession) refreshDue(now time.Time) bool {
	if u.APIKey || u.TokenIssued.IsZero() || now.Sub(u.RefreshFailed) < touchEvery {
		return false
	}
	after := refreshAfter
	if life := u.Expires.Sub(u.TokenIssued); life > 0 && life/2 < after {
		after = life / 2
	}
	return now.Sub(u.TokenIssued) >= after
}

// errSessionStore is a session store that cannot be reached (Redis down,
// data directory unreadable): the user is told to retry, not signed out.
type errSessionStore struct{ err error }

func (e errSessionStore) Error() string { return "session store: " + e.err.Error() }
func (e errSessionStore) Unwrap() error { return e.err }

// sessionStore keeps userSessions server-side behind gorilla/sessions: in
// files under the data directory, or in Redis for several replicas. Either
// way the cookie holds only the session id, encrypted and signed with the
// session keys, and the stored record is encrypted with the same keys.
type sessionStore struct {
	store sessions.Store
	opts  sessions.Options
	idle  time.Duration
	log   *slog.Logger
	close func() error
	// ping tells /readyz whether the store can be used: Redis answers, or
	// the session directory is still there.
	ping func(ctx context.Context) error
}

func newSessionStore(cfg config.Config, log *slog.Logger) (*sessionStore, error) {
	secrets := cfg.SessionKeys
	if len(secrets) == 0 {
		// Demo only (Validate refuses this otherwise): sessions end with the process.
		secrets = [][]byte{securecookie.GenerateRandomKey(48)}
	}
	pairs, err := cookieKeyPairs(secrets)
	if err != nil {
		return nil, err
	}
	s := &sessionStore{
		idle: cfg.IdleTimeout,
		log:  log,
		opts: sessions.Options{
			Path:     "/",
			MaxAge:   int(sessionMaxAge.Seconds()),
			HttpOnly: true,
			Secure:   cfg.CookieSecure,
			SameSite: http.SameSiteLaxMode,
		},
	}
	memo := newSessionMemo(cfg.Clock())
	if cfg.SessionStore != "" {
		return s, s.openRedis(cfg.SessionStore, pairs, memo)
	}
	return s, s.openFiles(filepath.Join(cfg.DataDir, "sessions"), pairs, memo, cfg.Clock())
}

// openFiles keeps sessions in files (gorilla's FilesystemStore encrypts
// each with the session keys) and deletes expired ones every sweepEvery.
func (s *sessionStore) openFiles(dir string, pairs [][]byte, memo *sessionMemo, now func() time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("session directory: %w", err)
	}
	fs := sessions.NewFilesystemStore(dir, pairs...)
	opts := s.opts
	fs.Options = &opts
	fs.MaxAge(fs.Options.MaxAge)
	fs.MaxLength(maxSessionValue)
	fs.Codecs = memo.wrap(fs.Codecs)
	s.store = newFileStore(dir, fs)
	s.ping = func(context.Context) error {
		_, err := os.Stat(dir)
		return err
	}

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
// longer than the idle timeout (requireUser refuses them) or the cookie's
// life. Sessions in use are rewritten at least every touchEvery.
func (s *sessionStore) sweep(dir string, now time.Time) (removed int) {
	limit := sessionMaxAge
	if s.idle > 0 && s.idle+touchEvery < limit {
		limit = s.idle + touchEvery
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.log.Warn("sweeping session files", slog.String("error", err.Error()))
		return 0
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "session_") {
			continue
		}
		info, err := e.Info()
		if err != nil || now.Sub(info.ModTime()) <= limit {
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
func (s *sessionStore) openRedis(rawURL string, pairs [][]byte, memo *sessionMemo) error {
	pool := &redis.Pool{
		MaxIdle:     8,
		IdleTimeout: 4 * time.Minute,
		Dial: func() (redis.Conn, error) {
			return redis.DialURL(rawURL,
				redis.DialConnectTimeout(5*time.Second),
				redis.DialReadTimeout(5*time.Second),
				redis.DialWriteTimeout(5*time.Second))
		},
		TestOnBorrow: func(c redis.Conn, idleSince time.Time) error {
			if time.Since(idleSince) < time.Minute {
				return nil
			}
			_, err := c.Do("PING")
			return err
		},
	}
	rs, err := redistore.NewRediStoreWithPool(pool, pairs...)
	if err != nil {
		_ = pool.Close()
		return fmt.Errorf("session store: cannot reach Redis at %s: %w", redactedURL(rawURL), err)
	}
	opts := s.opts
	rs.Options = &opts
	rs.SetMaxAge(opts.MaxAge)
	rs.SetKeyPrefix("keyportal:session:")
	rs.SetMaxLength(maxSessionValue)
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, c := range codecs {
		c.(*securecookie.SecureCookie).MaxAge(opts.MaxAge).MaxLength(maxSessionValue)
	}
	rs.Codecs = memo.wrap(rs.Codecs)
	rs.SetSerializer(sealed{memo.wrap(codecs)})
	s.store = rs
	s.close = rs.Close
	s.ping = func(ctx context.Context) error {
		conn, err := pool.GetContext(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = redis.DoContext(conn, ctx, "PING")
		return err
	}
	return nil
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

func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// load returns the browser's session, or nil when it has none. A cookie
// that fails to decode (an old key, tampering) or names a session that no
// longer exists is no session; a store that cannot answer is an error.
func (s *sessionStore) load(r *http.Request) (*userSession, error) {
	sess, err := s.store.Get(r, sessionCookie)
	if err != nil {
		var se securecookie.Error
		if errors.Is(err, fs.ErrNotExist) || (errors.As(err, &se) && se.IsDecode()) {
			return nil, nil
		}
		return nil, errSessionStore{err}
	}
	u, _ := sess.Values[sessionValue].(*userSession)
	return u, nil
}

// start replaces whatever session the browser had with a new one under a
// new id, so that an id planted before sign-in is worthless after it. The
// CSRF cookie goes too: the next page gets a fresh token.
func (s *sessionStore) start(c echo.Context, u *userSession) error {
	if err := s.end(c); err != nil {
		return err
	}
	sess := sessions.NewSession(s.store, sessionCookie)
	opts := s.opts
	sess.Options = &opts
	sess.IsNew = true
	sess.Values[sessionValue] = u
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return errSessionStore{err}
	}
	c.SetCookie(&http.Cookie{Name: csrfCookie, Path: "/", MaxAge: -1, Expires: time.Unix(0, 0),
		HttpOnly: true, Secure: s.opts.Secure, SameSite: http.SameSiteLaxMode})
	return nil
}

// save writes u back under the browser's current session id.
func (s *sessionStore) save(c echo.Context, u *userSession) error {
	sess, err := s.store.Get(c.Request(), sessionCookie)
	if err != nil && sess == nil {
		return errSessionStore{err}
	}
	sess.Values[sessionValue] = u
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return errSessionStore{err}
	}
	return nil
}

// end deletes the server-side session and clears the cookie.
func (s *sessionStore) end(c echo.Context) error {
	sess, err := s.store.Get(c.Request(), sessionCookie)
	if err != nil || sess.IsNew {
		return nil
	}
	sess.Options.MaxAge = -1
	if err := sess.Save(c.Request(), c.Response()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return errSessionStore{err}
	}
	return nil
}

// loadSession puts the browser's session, if any, into the context.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u, err := s.sessions.load(c.Request())
		if err != nil {
			return err
		}
		if u != nil {
			c.Set(ctxUser, u)
		}
		return next(c)
	}
}

// currentUser is the session loadSession found, or nil.
func currentUser(c echo.Context) *userSession {
	u, _ := c.Get(ctxUser).(*userSession)
	return u
}

// Reasons a browser lands on the sign-in page; the page words each one.
const (
	reasonSignedOut = "signed-out"
	reasonExpired   = "expired"
	reasonIdle      = "idle"
	reasonRevoked   = "revoked"
	reasonCodeLate  = "code-timeout"
)

// requireUser sends anyone without a live session to sign-in, ending
// sessions that sat idle too long or whose token has expired, and
// refreshes session tokens as they age.
func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := currentUser(c)
		if !u.signedIn() {
			return s.toSignIn(c, "")
		}
		now := s.now()
		switch {
		case !u.Expires.IsZero() && !now.Before(u.Expires):
			return s.endSession(c, reasonExpired)
		case s.sessions.idle > 0 && now.Sub(u.LastSeen) > s.sessions.idle:
			return s.endSession(c, reasonIdle)
		}
		changed := false
		if u.refreshDue(now) {
			ended, err := s.refresh(c, u, now)
			if ended || err != nil {
				return err
			}
			changed = true
		}
		if now.Sub(u.LastSeen) > touchEvery {
			u.LastSeen = now
			changed = true
		}
		if changed {
			if err := s.sessions.save(c, u); err != nil {
				return err
			}
		}
		// Signed-in pages hold account data: never let a cache keep them.
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

// refresh exchanges the session token for a new one. A token balena
// refuses ends the session (ended is then true and the response written);
// any other failure keeps the current token, which is still valid, and is
// tried again a minute later.
func (s *Server) refresh(c echo.Context, u *userSession, now time.Time) (ended bool, err error) {
	ctx := c.Request().Context()
	token, err := s.balena.As(u.Token).RefreshToken(ctx, "")
	if err != nil {
		if apiclient.ErrorCode(err) == apiclient.CodeUnauthorized {
			return true, s.endSession(c, reasonRevoked)
		}
		u.RefreshFailed = now
		s.log.LogAttrs(ctx, slog.LevelWarn, "session token refresh failed; keeping the current token",
			append(actorAttrs(u.Identity), slog.String("error", err.Error()))...)
		return false, nil
	}
	if _, ok := apiclient.ParseClaims(token); !ok {
		u.RefreshFailed = now
		s.log.LogAttrs(ctx, slog.LevelWarn, "session token refresh answered something that is not a token", actorAttrs(u.Identity)...)
		return false, nil
	}
	u.setToken(token, now)
	s.log.LogAttrs(ctx, slog.LevelInfo, "session token refreshed", append(actorAttrs(u.Identity), slog.Time("expires", u.Expires))...)
	return false, nil
}

// endSession deletes the session and sends the browser to sign-in.
func (s *Server) endSession(c echo.Context, reason string) error {
	if err := s.sessions.end(c); err != nil {
		return err
	}
	c.Set(ctxUser, nil)
	return s.toSignIn(c, reason)
}

// toSignIn redirects to the sign-in page, with htmx's own redirect header
// for htmx requests so the whole page changes rather than a fragment.
func (s *Server) toSignIn(c echo.Context, reason string) error {
	q := url.Values{}
	if reason != "" {
		q.Set("reason", reason)
	}
	// Come back to the page that was asked for (a bookmarked or shared
	// view), or, for htmx, to the page the request came from.
	from := ""
	if isHTMX(c) {
		if u, err := url.Parse(c.Request().Header.Get("HX-Current-URL")); err == nil {
			from = u.RequestURI()
		}
	} else if c.Request().Method == http.MethodGet {
		from = c.Request().URL.RequestURI()
	}
	if next := s.safeNext(from); next != "" && next != s.url(routeKeys) {
		q.Set("next", next)
	}
	target := s.url(routeSignIn)
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	if isHTMX(c) {
		c.Response().Header().Set(hxRedirect, target)
		return c.NoContent(http.StatusUnauthorized)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// safeNext returns raw if it is a page of this portal's keys section to go
// to after sign-in, and "" for anything else, so that a crafted link cannot
// send a fresh sign-in off to another site (an open redirect).
func (s *Server) safeNext(raw string) string {
	keys := s.url(routeKeys)
	u, err := url.Parse(raw)
	if err != nil || raw == "" || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(raw, "/") ||
		strings.HasPrefix(raw, "//") || strings.ContainsAny(raw, "\\\r\n") || path.Clean(u.Path) != u.Path || (u.Path != keys && !strings.HasPrefix(u.Path, keys+"/")) {
		return ""
	}
	return u.RequestURI()
}

// cookieKeyPairs turns each session secret into the hash and block key pair
// gorilla/securecookie wants, so that operators manage one secret per key
// and cookies are both authenticated (HMAC-SHA256) and encrypted (AES-256).
func cookieKeyPairs(secrets [][]byte) ([][]byte, error) {
	var pairs [][]byte
	for _, s := range secrets {
		hash, err := hkdf.Key(sha256.New, s, nil, "keyportal session hash", 64)
		if err != nil {
			return nil, err
		}
		block, err := hkdf.Key(sha256.New, s, nil, "keyportal session block", 32)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, hash, block)
	}
	return pairs, nil
}
