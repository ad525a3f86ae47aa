package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Signing out everywhere ends every session of an account, on every
// replica: the store keeps, per account, the time it was done, and a
// session that began at or before it is over at its next request. The
// record lives as long as a session left unused can still be used: in
// Redis sessionMaxAge (after that its cookie and sealed id have expired),
// as files until the sweep that also removes sessions idle too long.

// signOuts keeps the time each account last signed out everywhere.
type signOuts interface {
	get(ctx context.Context, actorID int64) (time.Time, error)
	set(ctx context.Context, actorID int64, at time.Time) error
}

// EndEverywhere ends every session of u's account, in every browser and
// on every replica, at time at: each is over at its next request.
func (s *Store) EndEverywhere(ctx context.Context, u *User, at time.Time) error {
	if !u.SignedIn() || u.Identity.ActorID == 0 {
		return nil
	}
	if err := s.signOuts.set(ctx, u.Identity.ActorID, at); err != nil {
		return StoreError{err}
	}
	return nil
}

// EndedEverywhere reports whether u's account signed out everywhere since
// u's session began.
func (s *Store) EndedEverywhere(ctx context.Context, u *User) (bool, error) {
	if !u.SignedIn() || u.Identity.ActorID == 0 {
		return false, nil
	}
	at, err := s.signOuts.get(ctx, u.Identity.ActorID)
	if err != nil {
		return false, StoreError{err}
	}
	return !at.IsZero() && !u.SignedInAt.After(at), nil
}

// fileSignOuts keeps each account's time in a file of the session
// directory, signout_<actor id>, written like a session (whole or not at
// all) and swept like one.
type fileSignOuts struct{ fs *fileStore }

const signOutFilePrefix = "signout_"

func (f fileSignOuts) path(actorID int64) string {
	return filepath.Join(f.fs.dir, signOutFilePrefix+strconv.FormatInt(actorID, 10))
}

func (f fileSignOuts) get(_ context.Context, actorID int64) (time.Time, error) {
	b, err := os.ReadFile(f.path(actorID))
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return parseSignOut(string(b))
}

func (f fileSignOuts) set(_ context.Context, actorID int64, at time.Time) error {
	return f.fs.replace(f.path(actorID), []byte(at.UTC().Format(time.RFC3339Nano)))
}

func parseSignOut(v string) (time.Time, error) {
	at, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("sign-out record: %w", err)
	}
	return at, nil
}

// redisSignOuts keeps each account's time under keyportal:signout:<actor
// id>, expiring after sessionMaxAge.
type redisSignOuts struct{ pool *redis.Pool }

func redisSignOutKey(actorID int64) string {
	return "keyportal:signout:" + strconv.FormatInt(actorID, 10)
}

func (r redisSignOuts) get(ctx context.Context, actorID int64) (time.Time, error) {
	conn, err := r.pool.GetContext(ctx)
	if err != nil {
		return time.Time{}, err
	}
	defer conn.Close()
	v, err := redis.String(redis.DoContext(conn, ctx, "GET", redisSignOutKey(actorID)))
	if errors.Is(err, redis.ErrNil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return parseSignOut(v)
}

func (r redisSignOuts) set(ctx context.Context, actorID int64, at time.Time) error {
	conn, err := r.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = redis.DoContext(conn, ctx, "SET", redisSignOutKey(actorID), at.UTC().Format(time.RFC3339Nano),
		"EX", int(sessionMaxAge.Seconds()))
	return err
}
