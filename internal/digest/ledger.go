package digest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Record is the last digest sent (or, when nothing was due, built).
type Record struct {
	Slot time.Time `json:"slot"` // the scheduled time it was for
	At   time.Time `json:"at"`   // when it was built: the next digest's expired keys are those after it
}

// Ledger is what the replicas of a portal share about digests: who sends
// a slot's digest, and which was the last one.
type Ledger interface {
	// Claim makes this process the only one handling slot until release is
	// called; ok is false when another holds it.
	Claim(ctx context.Context, slot time.Time) (release func(), ok bool, err error)
	// Last is the last record; ok is false before the first.
	Last(ctx context.Context) (r Record, ok bool, err error)
	// Put records r. Callers hold the claim of r.Slot.
	Put(ctx context.Context, r Record) error
	Close() error
}

// FileLedger keeps the record in a data directory, and claims with a lock
// file (flock), for portals on one host sharing that directory.
type FileLedger struct {
	dir string
}

// NewFileLedger uses dir, creating it.
func NewFileLedger(dir string) (*FileLedger, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	return &FileLedger{dir: dir}, nil
}

// Claim waits for the lock, which another process holds only while it
// sends: whoever comes second then finds the record of what was sent.
func (l *FileLedger) Claim(ctx context.Context, slot time.Time) (func(), bool, error) {
	f, err := os.OpenFile(filepath.Join(l.dir, "digest.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("digest lock: %w", err)
	}
	locked := make(chan error, 1)
	go func() { locked <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-locked:
		if err != nil {
			f.Close()
			return nil, false, fmt.Errorf("digest lock: %w", err)
		}
	case <-ctx.Done():
		// The flock still waits: let it finish before the file (and its
		// descriptor number) goes.
		go func() { <-locked; f.Close() }()
		return nil, false, ctx.Err()
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, true, nil
}

func (l *FileLedger) path() string { return filepath.Join(l.dir, "digest.json") }

func (l *FileLedger) Last(ctx context.Context) (Record, bool, error) {
	b, err := os.ReadFile(l.path())
	if errors.Is(err, os.ErrNotExist) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("digest record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, false, fmt.Errorf("digest record %s: %w", l.path(), err)
	}
	return r, true, nil
}

func (l *FileLedger) Put(ctx context.Context, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	// A new file renamed over the old: a crash never leaves half a record.
	tmp, err := os.CreateTemp(l.dir, "digest-*.json")
	if err != nil {
		return fmt.Errorf("digest record: %w", err)
	}
	_, err = tmp.Write(b)
	err = errors.Join(err, tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), l.path())
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("digest record: %w", err)
	}
	return nil
}

func (l *FileLedger) Close() error { return nil }

// RedisLedger claims each slot with SET NX under a key naming the slot's
// time, so that of several replicas firing at the same moment one sends;
// the claim is a lease, so that one whose holder died frees itself.
type RedisLedger struct {
	pool  *redis.Pool
	lease time.Duration
	// token marks this ledger's claims: a claim whose answer was lost, or
	// that Redis kept through a failover while its holder could not go on,
	// is still this ledger's when it tries that digest again.
	token string
}

// Redis keys of the ledger.
const (
	redisClaimPrefix = "keyportal:digest:slot:"
	redisLastKey     = "keyportal:digest:last"
)

// NewRedisLedger uses the Redis at rawURL (redis:// or rediss://). A claim
// lasts at most lease, which must exceed the time one digest takes.
func NewRedisLedger(rawURL string, lease time.Duration) *RedisLedger {
	pool := &redis.Pool{
		MaxIdle: 2, IdleTimeout: 5 * time.Minute,
		Dial: func() (redis.Conn, error) {
			return redis.DialURL(rawURL, redis.DialConnectTimeout(5*time.Second),
				redis.DialReadTimeout(5*time.Second), redis.DialWriteTimeout(5*time.Second))
		},
	}
	// Random, not the process id: replicas in containers all run as pid 1.
	return &RedisLedger{pool: pool, lease: lease, token: rand.Text()}
}

// release deletes a claim only if it is still ours.
var release = redis.NewScript(1, `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// reclaim renews a claim that is already ours; 0 when another holds it.
var reclaim = redis.NewScript(1, `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)

func (l *RedisLedger) Claim(ctx context.Context, slot time.Time) (func(), bool, error) {
	conn, err := l.pool.GetContext(ctx)
	if err != nil {
		return nil, false, redisErr(err)
	}
	defer conn.Close()
	key := redisClaimPrefix + slot.UTC().Format(time.RFC3339)
	token := l.token
	_, err = redis.String(redis.DoContext(conn, ctx, "SET", key, token, "NX", "PX", l.lease.Milliseconds()))
	if errors.Is(err, redis.ErrNil) {
		ours, err := redis.Int(reclaim.DoContext(ctx, conn, key, token, l.lease.Milliseconds()))
		if err != nil {
			return nil, false, redisErr(err)
		}
		if ours == 0 {
			return nil, false, nil
		}
	} else if err != nil {
		return nil, false, redisErr(err)
	}
	return func() {
		c := l.pool.Get()
		defer c.Close()
		_, _ = release.Do(c, key, token)
	}, true, nil
}

func (l *RedisLedger) Last(ctx context.Context) (Record, bool, error) {
	conn, err := l.pool.GetContext(ctx)
	if err != nil {
		return Record{}, false, redisErr(err)
	}
	defer conn.Close()
	b, err := redis.Bytes(redis.DoContext(conn, ctx, "GET", redisLastKey))
	if errors.Is(err, redis.ErrNil) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, redisErr(err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, false, fmt.Errorf("digest record in Redis: %w", err)
	}
	return r, true, nil
}

func (l *RedisLedger) Put(ctx context.Context, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	conn, err := l.pool.GetContext(ctx)
	if err != nil {
		return redisErr(err)
	}
	defer conn.Close()
	_, err = redis.DoContext(conn, ctx, "SET", redisLastKey, b)
	return redisErr(err)
}

func (l *RedisLedger) Close() error { return l.pool.Close() }

// redisErr says where the failure was without the URL, which may hold a
// password.
func redisErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("digest: Redis: %w", err)
}
