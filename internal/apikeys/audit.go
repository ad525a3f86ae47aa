package apikeys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/keyportal/keyportal/apiclient"
)

// Event is one change made through the portal, as the audit trail keeps
// it: who, what, which key, the values before and after, and the outcome.
// Never a secret.
type Event struct {
	Action   string // create, update, set_expiry, clear_expiry, expire, revoke, rotate_create, rotate_expire_old
	ActorID  int64
	Username string
	Key      apiclient.APIKey // ID 0 when balena did not show a new key
	Changes  []Change
	NewKey   int64 // a rotation's replacement, when found
	Bulk     bool  // one of a bulk action's changes
	Err      error // nil when the change was made
	Outcome  Outcome
	// Verified is set when balena's answer was lost and the outcome is
	// what the portal then read back from balena.
	Verified bool
	Ref      string
}

// Actions are the audit events' actions, in the order a key lives them,
// with what each did in words.
var Actions = []struct{ Name, Words string }{
	{"create", "Created"},
	{"update", "Edited"},
	{"set_expiry", "Set expiry"},
	{"clear_expiry", "Cleared expiry"},
	{"expire", "Expired now"},
	{"rotate_create", "Rotated: replacement made"},
	{"rotate_expire_old", "Rotated: old key set to expire"},
	{"revoke", "Revoked"},
}

// Change is one field's value before (nil for a new key) and after.
type Change struct {
	Field    string // name, description or expiry
	Old, New *string
}

// changed is a field that went from old to new.
func changed(field, old, new string) Change { return Change{Field: field, Old: &old, New: &new} }

// made is a field of a new key.
func made(field, new string) Change { return Change{Field: field, New: &new} }

// expiryValue writes an expiry for the trail.
func expiryValue(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// Recorder keeps the audit trail.
type Recorder interface {
	Record(ctx context.Context, e Event)
}

// Recorders is a Recorder that passes each event to all of its own, in
// order: the log and its file, and the database.
type Recorders []Recorder

// Record passes e to each recorder.
func (rs Recorders) Record(ctx context.Context, e Event) {
	for _, r := range rs {
		r.Record(ctx, e)
	}
}

// record completes e with the caller and writes it. It outlives the
// request's cancellation: a change that happened is recorded even if the
// browser has gone.
func (s *Service) record(ctx context.Context, c Caller, e Event) {
	e.ActorID, e.Username, e.Ref = c.Identity.ActorID, c.Identity.Username, c.Ref
	s.trail.Record(context.WithoutCancel(ctx), e)
}

// LogTrail writes events to the log and, when it has one, to a file of
// JSON lines, so that they can be kept longer than request logs.
type LogTrail struct {
	log  *slog.Logger
	file *slog.Logger
	f    *os.File
}

// OpenLogTrail records to log and, when path is not empty, appends to
// that file too.
func OpenLogTrail(log *slog.Logger, path string) (*LogTrail, error) {
	t := &LogTrail{log: log}
	if path == "" {
		return t, nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("KEYPORTAL_AUDIT_FILE: %w", err)
	}
	t.f, t.file = f, slog.New(slog.NewJSONHandler(f, nil))
	return t, nil
}

// Record writes one event as a line "audit" with its attributes.
func (t *LogTrail) Record(ctx context.Context, e Event) {
	level, outcome := slog.LevelInfo, string(Done)
	if e.Outcome != Done {
		level, outcome = slog.LevelWarn, string(e.Outcome)+": "+Explain(e.Err)
	}
	attrs := []slog.Attr{
		slog.String("action", e.Action),
		slog.Int64("actor", e.ActorID),
		slog.String("username", e.Username),
	}
	if e.Key.ID != 0 {
		attrs = append(attrs, slog.Int64("key", e.Key.ID))
	}
	attrs = append(attrs,
		slog.String("kind", string(e.Key.Kind)),
		slog.String("owner", Owner(e.Key)),
		slog.String("outcome", outcome),
		slog.String("request_id", e.Ref),
	)
	if e.Verified {
		attrs = append(attrs, slog.Bool("verified", true))
	}
	if e.Bulk {
		attrs = append(attrs, slog.Bool("bulk", true))
	}
	if e.NewKey != 0 {
		attrs = append(attrs, slog.Int64("new_key", e.NewKey))
	}
	for _, ch := range e.Changes {
		if ch.Old != nil {
			attrs = append(attrs, slog.String("old_"+ch.Field, *ch.Old))
		}
		if ch.New != nil {
			attrs = append(attrs, slog.String("new_"+ch.Field, *ch.New))
		}
	}
	t.log.LogAttrs(ctx, level, "audit", attrs...)
	if t.file != nil {
		t.file.LogAttrs(ctx, level, "audit", attrs...)
	}
}

// Close flushes and closes the file.
func (t *LogTrail) Close() error {
	if t.f == nil {
		return nil
	}
	return errors.Join(t.f.Sync(), t.f.Close())
}
