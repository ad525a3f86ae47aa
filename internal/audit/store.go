// Package audit keeps the audit trail in a database, so that "who revoked
// the CI key yesterday?" is answered in the browser rather than by grepping
// log files on each replica: an SQLite file in the data directory for a
// single portal, or PostgreSQL that several replicas share. Writing an
// event never holds up or fails the change it records: a database that is
// slow or down costs at most the write timeout, and the event then stays in
// the log (the LogTrail writes every event there anyway) with a warning.
// Nor does a PostgreSQL that is down when the portal starts keep it from
// serving: the store reaches it, and migrates it, once it answers.
package audit

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"golang.org/x/sync/errgroup"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", pure Go: the static build stays static

	"github.com/keyportal/keyportal/internal/apikeys"
)

// Entry is one stored event.
type Entry struct {
	ID       int64
	At       time.Time // UTC
	Action   string    // as apikeys.Event: create, update, revoke, rotate_create…
	ActorID  int64     // the balena user who acted
	Username string
	KeyID    int64  // 0 when balena did not show a new key
	Kind     string // user, provisioning or device; "" when it could not be told
	Owner    string // the owner's name at the time (apikeys.Owner)
	Fleet    string // the fleet slug of a provisioning key
	KeyName  string // the key's name at the time
	Changes  []apikeys.Change
	NewKey   int64 // a rotation's replacement
	Bulk     bool
	Outcome  string // ok, failed or unknown (apikeys.Outcome)
	Reason   string // why, when the outcome is not ok
	Verified bool   // the outcome was read back from balena after its answer was lost
	// RequestID ties the event to the request's log lines.
	RequestID string
}

// Link is the rotation lineage of a key: the key it replaced and the key
// that replaced it; 0 when none.
type Link struct{ Replaces, ReplacedBy int64 }

// Options say where the trail lives.
type Options struct {
	// URL is a postgres:// (or postgresql://) URL; empty means SQLite in Dir.
	URL string
	Dir string // the data directory, for SQLite's audit.db
	Log *slog.Logger
	Now func() time.Time // nil: time.Now
	// WriteTimeout bounds what recording an event may add to a change;
	// 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration

	version int64 // the schema version to migrate to, for a test of an older one; 0: the newest
}

// DefaultWriteTimeout is the longest a change waits for its event to be
// stored. A healthy database takes a millisecond or two.
const DefaultWriteTimeout = 2 * time.Second

// Store is the audit trail in a database. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	opts    Options
	pg      bool
	log     *slog.Logger
	now     func() time.Time
	timeout time.Duration
	// writing serialises this process's writes to SQLite, which takes one
	// writer at a time: waiting here is a queue, where SQLite's own busy
	// handler would sleep and retry (milliseconds at a time).
	writing sync.Mutex
	availability
	// lineage is Lineage's query, prepared on its first use (the database
	// may be down at start): every keys page asks it, and SQLite spent
	// more time parsing it than running it. lineageMu guards it.
	lineageMu sync.Mutex
	lineage   *sql.Stmt
}

//go:embed migrations
var migrations embed.FS

// FileName is SQLite's file in the data directory.
const FileName = "audit.db"

// Open connects and applies the migrations the database lacks. Replicas
// starting together on one PostgreSQL take turns (an advisory lock).
//
// Open fails only for what a restart cannot mend: a URL that is not a
// PostgreSQL one, an SQLite file that cannot be created or migrated. A
// PostgreSQL server that does not answer, or fails the migrations, is not
// a reason to refuse to start (a database being upgraded or failed over
// is down for a while): the store opens unavailable, says so in the log,
// keeps trying in the background, and is Ready once the migrations are
// applied. Meanwhile events go to the log only, reads fail with
// ErrUnavailable, and Ping fails.
func Open(ctx context.Context, o Options) (*Store, error) {
	s := &Store{opts: o, log: o.Log, now: o.Now, timeout: o.WriteTimeout}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.timeout <= 0 {
		s.timeout = DefaultWriteTimeout
	}
	var dialect goose.Dialect
	var opts []goose.ProviderOption
	switch {
	case o.URL != "":
		if !IsPostgresURL(o.URL) {
			return nil, errors.New("audit database: want a postgres:// URL")
		}
		cfg, err := pgx.ParseConfig(o.URL)
		if err != nil {
			return nil, fmt.Errorf("audit database: %w", parseError(err))
		}
		// A server that drops packets would otherwise hold each attempt
		// for the kernel's TCP timeout, minutes.
		if cfg.ConnectTimeout == 0 {
			cfg.ConnectTimeout = connectTimeout
		}
		s.pg, dialect = true, goose.DialectPostgres
		s.db = stdlib.OpenDB(*cfg)
		s.db.SetMaxOpenConns(10)
		s.db.SetMaxIdleConns(4)
		s.db.SetConnMaxIdleTime(5 * time.Minute)
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, errors.Join(err, s.db.Close())
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	default:
		if err := os.MkdirAll(o.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("audit database: %w", err)
		}
		// Created here, so that it is the portal's alone: SQLite gives its
		// journal files the database file's mode.
		f, err := os.OpenFile(filepath.Join(o.Dir, FileName), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit database: %w", err)
		}
		f.Close()
		// WAL lets the audit page read while a change writes; the busy
		// timeout makes concurrent writers wait for each other rather than
		// fail, within the write timeout.
		dsn := "file:" + filepath.Join(o.Dir, FileName) +
			"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		dialect = goose.DialectSQLite3
		if s.db, err = sql.Open("sqlite", dsn); err != nil {
			return nil, fmt.Errorf("audit database: %w", err)
		}
	}
	sub, err := fs.Sub(migrations, "migrations/"+map[bool]string{true: "postgres", false: "sqlite"}[s.pg])
	if err != nil {
		return nil, errors.Join(err, s.db.Close())
	}
	p, err := goose.NewProvider(dialect, s.db, sub, opts...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("audit database migrations: %w", err), s.db.Close())
	}
	s.init(s.log, func(ctx context.Context) error {
		var err error
		if o.version > 0 {
			_, err = p.UpTo(ctx, o.version)
		} else {
			_, err = p.Up(ctx)
		}
		return err
	})
	err = s.try(ctx)
	if err != nil && !s.pg {
		// The file is the portal's own: a failure is not a server's passing
		// trouble, and retrying would not mend it.
		s.shutdown()
		return nil, errors.Join(fmt.Errorf("audit database: applying migrations: %w", err), s.db.Close())
	}
	s.settle(err)
	if err != nil {
		s.keepTrying()
	}
	return s, nil
}

// parseError is why pgx could not read a connection URL, without the URL,
// which may hold a password.
func parseError(err error) error {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return err
	}
	msg := pe.Error() // cannot parse `<the URL, its password masked>`: why
	if i := strings.LastIndex(msg, "`: "); i >= 0 {
		return errors.New(msg[i+3:])
	}
	return errors.New("not a PostgreSQL connection URL")
}

// IsPostgresURL reports whether u names a PostgreSQL database.
func IsPostgresURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "postgres" || p.Scheme == "postgresql") && p.Host != ""
}

// Dialect names the database: "sqlite" or "postgres".
func (s *Store) Dialect() string {
	if s.pg {
		return "postgres"
	}
	return "sqlite"
}

// Close stops the background work (pruning, reconnecting) and closes the
// database.
func (s *Store) Close() error {
	s.shutdown()
	s.lineageMu.Lock()
	defer s.lineageMu.Unlock()
	var err error
	if s.lineage != nil {
		err = s.lineage.Close()
	}
	return errors.Join(err, s.db.Close())
}

// Ping reports whether the database answers. While the store is not
// Ready, it tries to connect and migrate now (joining a try under way),
// so that a readiness probe sees the database as soon as it is back.
func (s *Store) Ping(ctx context.Context) error {
	if !s.IsReady() {
		return s.tryNow(ctx)
	}
	if err := s.db.PingContext(ctx); err != nil {
		return err
	}
	// A pooled connection may answer a ping while the server is gone, and
	// a server failed over to an empty database answers without the
	// trail: ask the trail's own table.
	var n int
	return s.db.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM audit_event LIMIT 1) AS probe").Scan(&n)
}

// change is apikeys.Change as stored: JSON with short names.
type change struct {
	Field string  `json:"field"`
	Old   *string `json:"old,omitempty"`
	New   *string `json:"new,omitempty"`
}

const columns = "id, at, action, actor_id, username, key_id, kind, owner, fleet, key_name, changes, new_key, bulk, outcome, reason, verified, request_id"

// Record stores e within the write timeout, whatever happened to the
// request. If the database does not take it, the event is logged with a
// warning instead: the change it records has happened either way.
func (s *Store) Record(ctx context.Context, e apikeys.Event) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	err := s.unavailable()
	if err == nil {
		err = s.insert(ctx, s.now(), e)
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "audit event not stored in the database; it is only in this log",
			slog.String("action", e.Action), slog.Int64("actor", e.ActorID), slog.String("username", e.Username),
			slog.Int64("key", e.Key.ID), slog.String("outcome", outcome(e)), slog.String("request_id", e.Ref),
			slog.String("error", err.Error()))
	}
}

func outcome(e apikeys.Event) string {
	if e.Outcome == "" {
		return string(apikeys.Done)
	}
	return string(e.Outcome)
}

func (s *Store) insert(ctx context.Context, at time.Time, e apikeys.Event) error {
	chs := make([]change, len(e.Changes))
	for i, c := range e.Changes {
		chs[i] = change{Field: c.Field, Old: c.Old, New: c.New}
	}
	changes, err := json.Marshal(chs)
	if err != nil {
		return err
	}
	reason := ""
	if outcome(e) != string(apikeys.Done) {
		reason = apikeys.Explain(e.Err)
	}
	if !s.pg {
		s.writing.Lock()
		defer s.writing.Unlock()
	}
	_, err = s.db.ExecContext(ctx, s.bind(`INSERT INTO audit_event (`+strings.TrimPrefix(columns, "id, ")+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		s.time(at), e.Action, e.ActorID, e.Username, e.Key.ID, string(e.Key.Kind), apikeys.Owner(e.Key),
		e.Key.Owner.FleetSlug, e.Key.Name, string(changes), e.NewKey, e.Bulk, outcome(e), reason, e.Verified, e.Ref)
	return err
}

// Filter selects events. Zero fields select everything, except for who
// may see: unless All is set, only the events of KeyIDs and ActorID's own
// actions.
type Filter struct {
	Actor   string // a username (any case) or a balena user id
	Action  string
	KeyID   int64
	Kind    string
	Fleet   string
	Outcome string
	After   time.Time // at or after; zero: no bound
	Before  time.Time // strictly before; zero: no bound

	All     bool
	KeyIDs  []int64
	ActorID int64

	Offset  int
	Limit   int  // 0: DefaultLimit
	NoCount bool // the caller has the total: List returns 0 and does not count
	// OlderThan, when set, selects only the events after it in the order
	// (older, or as old with a lower id): reading on from the last event
	// read, where an offset would walk again past every event before it.
	OlderThan *Position
}

// Position is an event's place in the newest-first order.
type Position struct {
	At time.Time
	ID int64
}

// Position is where e stands in the order, to read on from.
func (e Entry) Position() *Position { return &Position{At: e.At, ID: e.ID} }

// DefaultLimit is the page size when a Filter names none.
const DefaultLimit = 50

// List returns one page of the events f selects, newest first, and how
// many it selects in all (0 with NoCount).
//
// The page is found by walking an index that holds what the order and
// the scope need (audit_event_newest), newest first (see pageQuery).
func (s *Store) List(ctx context.Context, f Filter) ([]Entry, int, error) {
	if err := s.unavailable(); err != nil {
		return nil, 0, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	offset := max(f.Offset, 0)
	// read reads the page and, unless f says not to, the count, at once on
	// two connections: with tens of thousands of events each is a scan, and
	// a scan is one core.
	read := func(walk bool) ([]Entry, int, error) {
		var total int
		var entries []Entry
		g, ctx := errgroup.WithContext(ctx)
		if !f.NoCount {
			g.Go(func() (err error) {
				total, err = s.count(ctx, f, walk)
				return err
			})
		}
		g.Go(func() (err error) {
			q, args := s.pageQuery(f, walk, limit, offset)
			entries, err = s.query(ctx, q, args...)
			return err
		})
		if err := g.Wait(); err != nil {
			return nil, 0, err
		}
		return entries, total, nil
	}
	if s.pg || !manyKeys(f) {
		// PostgreSQL weighs the scope with its statistics, and a filter
		// that names no set of keys leaves SQLite no choice to get wrong.
		return read(false)
	}
	// SQLite, without statistics, finds the events of a set of keys
	// through the key index, one key at a time, then sorts them all: right
	// for a user who sees a few keys, a tenth of a second and more for one
	// who sees thousands. Walking the newest-first index instead costs at
	// most one pass over it, a lookup in the set per event; it visits about
	// (offset+limit) × trail ÷ total events for a page, and all for the
	// count. A set of keys an eighth the size of the trail or more costs
	// the key index at least as much, whatever it finds: walk. A smaller
	// one is counted through the key index first, and the count says which
	// way costs less for the page (the key index reads about total events,
	// each costing twice or more a step of the walk).
	var trail int
	if err := s.db.QueryRowContext(ctx, "SELECT coalesce((SELECT max(id) FROM audit_event) - (SELECT min(id) FROM audit_event) + 1, 0)").Scan(&trail); err != nil {
		return nil, 0, fmt.Errorf("audit: count events: %w", err)
	}
	if f.NoCount || 8*len(f.KeyIDs) >= trail {
		return read(true)
	}
	total, err := s.count(ctx, f, false)
	if err != nil {
		return nil, 0, err
	}
	if total == 0 || offset >= total {
		return nil, total, nil
	}
	q, args := s.pageQuery(f, int64(offset+limit)*int64(trail) <= 2*int64(total)*int64(total), limit, offset)
	entries, err := s.query(ctx, q, args...)
	return entries, total, err
}

// count says how many events f selects.
func (s *Store) count(ctx context.Context, f Filter, walk bool) (int, error) {
	cond, args := s.where(f, walk)
	var n int
	if err := s.db.QueryRowContext(ctx, s.bind("SELECT count(*) FROM audit_event"+cond), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit: count events: %w", err)
	}
	return n, nil
}

// pageQuery reads a page of the events f selects. On SQLite it reads
// their ids first, from an index where it can, then those events alone:
// SQLite sorts, and skips an offset, with whole rows. PostgreSQL walks the
// index and reads each row it keeps as it goes, which is as fast, and it
// would join a thousand ids (an export's read) by reading the whole table.
// A key's events, a handful found through the key indexes, are read at
// once on either.
func (s *Store) pageQuery(f Filter, walk bool, limit, offset int) (string, []any) {
	cond, args := s.where(f, walk)
	order := s.newestFirst(f.KeyID != 0)
	if s.pg || f.KeyID != 0 {
		return "SELECT " + columns + " FROM audit_event" + cond + " ORDER BY " + order + " LIMIT ? OFFSET ?", append(args, limit, offset)
	}
	return "SELECT " + columns + " FROM audit_event WHERE id IN (SELECT id FROM audit_event" + cond + " ORDER BY " + order +
		" LIMIT ? OFFSET ?) ORDER BY " + order, append(args, limit, offset)
}

// manyKeys reports whether f is seen through a set of keys (the keys a
// user can see, and their own actions), which is where SQLite's planner
// may need telling how to read.
func manyKeys(f Filter) bool {
	return !f.All && f.KeyID == 0
}

// where is the condition f makes, and its arguments. With walk, SQLite is
// told not to use the key and actor indexes for the scope, which leaves it
// the newest-first index.
func (s *Store) where(f Filter, walk bool) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where, args = append(where, cond), append(args, a...) }
	plain := ""
	if walk && !s.pg {
		plain = "+" // a unary plus: SQLite uses no index for such a term
	}
	switch {
	case f.All:
	case f.KeyID != 0 && slices.Contains(f.KeyIDs, f.KeyID):
		// One key, which this user can see: its events are theirs to see,
		// and the planner need not weigh a set of thousands of ids.
	case f.KeyID != 0:
		add("actor_id = ?", f.ActorID)
	default:
		// A rotation's event is the old key's (key_id), which names the
		// new one: it is seen by whoever sees the old key.
		keys, arg := s.inIDs(plain+"key_id", f.KeyIDs)
		add("("+keys+" OR "+plain+"actor_id = ?)", arg, f.ActorID)
	}
	if f.Actor != "" {
		if id, err := strconv.ParseInt(f.Actor, 10, 64); err == nil {
			add("("+plain+"actor_id = ? OR lower(username) = lower(?))", id, f.Actor)
		} else {
			add("lower(username) = lower(?)", f.Actor)
		}
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.KeyID != 0 {
		add("("+oneKey+")", f.KeyID, f.KeyID)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.Fleet != "" {
		add("lower(fleet) = lower(?)", f.Fleet)
	}
	if f.Outcome != "" {
		add("outcome = ?", f.Outcome)
	}
	if !f.After.IsZero() {
		add("at >= ?", s.time(f.After))
	}
	if !f.Before.IsZero() {
		add("at < ?", s.time(f.Before))
	}
	if p := f.OlderThan; p != nil {
		add("(at, id) < (?, ?)", s.time(p.At), p.ID)
	}
	if len(where) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// History returns the newest limit events of a key, including the
// rotation that made it.
func (s *Store) History(ctx context.Context, keyID int64, limit int) ([]Entry, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	if err := s.unavailable(); err != nil {
		return nil, err
	}
	return s.query(ctx, s.historyQuery(), keyID, keyID, limit)
}

func (s *Store) historyQuery() string {
	return "SELECT " + columns + " FROM audit_event WHERE " + oneKey + " ORDER BY " + s.newestFirst(true) + " LIMIT ?"
}

// oneKey selects a key's events: as the key, or as a rotation's new key.
// "new_key <> 0" lets SQLite use the partial index of rotations.
const oneKey = "key_id = ? OR (new_key = ? AND new_key <> 0)"

// newestFirst is the events' order. For one key's events SQLite is told
// not to walk the time index (+at), which it would otherwise do to save a
// sort, reading every event to find a key's handful; the key indexes find
// them at once, and sorting a handful costs nothing.
func (s *Store) newestFirst(oneKey bool) string {
	if oneKey && !s.pg {
		return "+at DESC, id DESC"
	}
	return "at DESC, id DESC"
}

// Lineage returns, for those of keyIDs that a rotation through the portal
// made or replaced, the key each replaced and the key that replaced it.
func (s *Store) Lineage(ctx context.Context, keyIDs []int64) (map[int64]Link, error) {
	links := map[int64]Link{}
	if len(keyIDs) == 0 {
		return links, nil
	}
	if err := s.unavailable(); err != nil {
		return nil, err
	}
	stmt, err := s.lineageStmt(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: lineage: %w", err)
	}
	_, arg := s.inIDs("key_id", keyIDs)
	rows, err := stmt.QueryContext(ctx, arg, arg)
	if err != nil {
		return nil, fmt.Errorf("audit: lineage: %w", err)
	}
	defer rows.Close()
	want := make(map[int64]bool, len(keyIDs))
	for _, id := range keyIDs {
		want[id] = true
	}
	for rows.Next() {
		var old, fresh int64
		if err := rows.Scan(&old, &fresh); err != nil {
			return nil, fmt.Errorf("audit: lineage: %w", err)
		}
		if want[old] {
			l := links[old]
			l.ReplacedBy = fresh
			links[old] = l
		}
		if want[fresh] {
			l := links[fresh]
			l.Replaces = old
			links[fresh] = l
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: lineage: %w", err)
	}
	return links, nil
}

// lineageStmt is Lineage's query, prepared on its first use.
func (s *Store) lineageStmt(ctx context.Context) (*sql.Stmt, error) {
	s.lineageMu.Lock()
	defer s.lineageMu.Unlock()
	if s.lineage == nil {
		keys, _ := s.inIDs("key_id", nil)
		news, _ := s.inIDs("new_key", nil)
		stmt, err := s.db.PrepareContext(ctx, s.bind("SELECT key_id, new_key FROM audit_event WHERE action = 'rotate_create' AND new_key <> 0 AND key_id <> 0 AND ("+
			keys+" OR "+news+") ORDER BY at, id"))
		if err != nil {
			return nil, err
		}
		s.lineage = stmt
	}
	return s.lineage, nil
}

// Prune deletes the events older than before and says how many.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	if err := s.unavailable(); err != nil {
		return 0, err
	}
	if !s.pg {
		s.writing.Lock()
		defer s.writing.Unlock()
	}
	r, err := s.db.ExecContext(ctx, s.bind("DELETE FROM audit_event WHERE at < ?"), s.time(before))
	if err != nil {
		return 0, fmt.Errorf("audit: prune: %w", err)
	}
	return r.RowsAffected()
}

// PruneEvery deletes the events older than retention now, before it
// returns (a store not Ready yet: as it becomes Ready), and then every
// interval until Close. Several replicas may prune the same database: a
// delete that finds nothing costs nothing.
func (s *Store) PruneEvery(retention, interval time.Duration) {
	if retention <= 0 || !s.pruning.CompareAndSwap(false, true) {
		return
	}
	if !s.whenReady(func() { s.pruneOnce(retention) }) {
		s.pruneOnce(retention)
	}
	s.background.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.closing.Done():
				return
			case <-t.C:
				if s.IsReady() {
					s.pruneOnce(retention)
				}
			}
		}
	})
}

func (s *Store) pruneOnce(retention time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := s.Prune(ctx, s.now().Add(-retention))
	switch {
	case err != nil:
		s.log.Warn("audit: pruning old events failed; the next try is in a day", "error", err)
	case n > 0:
		s.log.Info("audit: pruned old events", "events", n, "retention", retention.String())
	}
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]Entry, error) {
	rows, err := s.db.QueryContext(ctx, s.bind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("audit: read events: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var changes string
		var micros int64
		at := any(&e.At)
		if !s.pg {
			at = &micros
		}
		if err := rows.Scan(&e.ID, at, &e.Action, &e.ActorID, &e.Username, &e.KeyID, &e.Kind, &e.Owner, &e.Fleet, &e.KeyName,
			&changes, &e.NewKey, &e.Bulk, &e.Outcome, &e.Reason, &e.Verified, &e.RequestID); err != nil {
			return nil, fmt.Errorf("audit: read events: %w", err)
		}
		if !s.pg {
			e.At = time.UnixMicro(micros)
		}
		e.At = e.At.UTC()
		var chs []change
		if err := json.Unmarshal([]byte(changes), &chs); err != nil {
			return nil, fmt.Errorf("audit: event %d: changes: %w", e.ID, err)
		}
		for _, c := range chs {
			e.Changes = append(e.Changes, apikeys.Change{Field: c.Field, Old: c.Old, New: c.New})
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// time is t as the database keeps it: Unix microseconds in SQLite,
// timestamptz in PostgreSQL (which keeps microseconds too).
func (s *Store) time(t time.Time) any {
	if s.pg {
		return t.UTC().Truncate(time.Microsecond)
	}
	return t.UnixMicro()
}

// inIDs is a condition "col is one of ids" with a single argument, however
// many ids there are (an account can see tens of thousands of keys): a
// JSON array that SQLite reads with json_each, an array that PostgreSQL
// unnests; either way a set the planner can join against.
func (s *Store) inIDs(col string, ids []int64) (string, any) {
	if ids == nil {
		ids = []int64{}
	}
	if s.pg && len(ids) <= fewIDs {
		// A few ids are looked up in the column's index, one by one; a
		// set would be read into a hash and tried against every event.
		return col + " = ANY(?::bigint[])", ids
	}
	if s.pg {
		return col + " IN (SELECT unnest(?::bigint[]))", ids
	}
	// Written by hand: json.Marshal takes the reflective path for every
	// id, and every keys page asks this (Lineage).
	b := append(make([]byte, 0, 2+8*len(ids)), '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return col + " IN (SELECT value FROM json_each(?))", string(append(b, ']'))
}

// fewIDs is the most ids that PostgreSQL is given as a list to look up
// in an index (a user who sees ten keys: 1 ms, where the set took 30 ms
// over 100,000 events). Tens of thousands of lookups cost more than the
// set, and a list that long in the rows' filter is searched from one end.
const fewIDs = 1000

// bind turns ? placeholders into PostgreSQL's $1, $2…
func (s *Store) bind(q string) string {
	if !s.pg {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
