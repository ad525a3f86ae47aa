package audit

import (
	"context"
	"io/fs"
	"slices"
	"strconv"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/pgtest"
)

// A trail made before the newest-first indexes keeps its events and reads
// them as before once the portal that brings them starts, on either
// database; and the migration that brings them can be undone.
func TestATrailOfVersion1IsUpgradedInPlace(t *testing.T) {
	ctx := context.Background()
	for name, options := range map[string]func(t *testing.T) Options{
		"SQLite":     func(t *testing.T) Options { return Options{Dir: t.TempDir()} },
		"PostgreSQL": func(t *testing.T) Options { return Options{URL: pgtest.Start(t).Database(t)} },
	} {
		t.Run(name, func(t *testing.T) {
			o := options(t)
			o.version = 1
			old, err := Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 30 {
				old.Record(ctx, apikeys.Event{Action: apikeys.Actions[i%len(apikeys.Actions)].Name, ActorID: int64(i % 3),
					Key: apiclient.APIKey{ID: int64(i % 10)}, Outcome: apikeys.Done, Ref: "ev-" + strconv.Itoa(i)})
			}
			f := Filter{KeyIDs: []int64{1, 2, 3, 4, 5, 6}, ActorID: 2, Limit: 4, Offset: 4}
			want, wantTotal, err := old.listBefore(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			old.Close()
			o.version = 0
			s, err := Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, total, err := s.List(ctx, f)
			if err != nil || total != wantTotal || !slices.EqualFunc(got, want, func(a, b Entry) bool { return a.ID == b.ID }) {
				t.Errorf("after the upgrade: %d events of %d (%v), want %d of %d", len(got), total, err, len(want), wantTotal)
			}
			p, err := goose.NewProvider(map[bool]goose.Dialect{true: goose.DialectPostgres, false: goose.DialectSQLite3}[s.pg], s.db, mustSub(t, s))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.DownTo(ctx, 1); err != nil {
				t.Errorf("undoing the newest-first indexes: %v", err)
			}
		})
	}
}

func mustSub(t *testing.T, s *Store) fs.FS {
	sub, err := fs.Sub(migrations, "migrations/"+s.Dialect())
	if err != nil {
		t.Fatal(err)
	}
	return sub
}
