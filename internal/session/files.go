package session

import (
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/keyportal/keyportal/internal/ttlcache"
)

// fileStore is gorilla's FilesystemStore that reads a session file only
// when it changed since this process last read it. Opening and reading
// the file was most of what is left of loading a session once decoding is
// remembered (sessionMemo); a stat is one system call instead of five.
//
// A file counts as unchanged when its size, modification time and inode
// are what they were, and it had not been written for fileSettled before
// it was read: a write after the read then has a later time even on a file
// system with coarse timestamps (the reasoning of git's "racy clean"
// check). A file another replica rewrote or deleted is therefore read or
// missed at once, as before.
type fileStore struct {
	*sessions.FilesystemStore
	dir string

	seen *ttlcache.Cache[string, fileSeen] // by session id
}

const (
	fileSettled = 2 * time.Second
	// fileSeenFor bounds how long a file is trusted without a read (and
	// the codecs' age check), and fileSeenMax the entries kept.
	fileSeenFor = time.Minute
	fileSeenMax = 4096
)

type fileSeen struct {
	size   int64
	mod    time.Time
	inode  uint64
	values map[any]any // a copy; see clone
	read   time.Time   // taken before the file was read
}

func newFileStore(dir string, fs *sessions.FilesystemStore) *fileStore {
	// Wall time, as the files' modification times are.
	return &fileStore{FilesystemStore: fs, dir: dir, seen: ttlcache.New[string, fileSeen](fileSeenFor, fileSeenMax, time.Now)}
}

// Get goes through the request's registry, as gorilla's stores do, so that
// it reaches New below.
func (s *fileStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New is FilesystemStore.New, skipping the file when it is unchanged.
func (s *fileStore) New(r *http.Request, name string) (*sessions.Session, error) {
	c, err := r.Cookie(name)
	if err != nil {
		return s.FilesystemStore.New(r, name)
	}
	var id string
	if securecookie.DecodeMulti(name, c.Value, &id, s.Codecs...) != nil {
		return s.FilesystemStore.New(r, name)
	}
	// Taken before any read: if the file changes after this, the next
	// request sees another signature and reads it again.
	info, statErr := os.Stat(filepath.Join(s.dir, "session_"+filepath.Base(id)))
	now := time.Now()
	if statErr == nil {
		if v, ok := s.unchanged(id, info); ok {
			sess := sessions.NewSession(s, name)
			opts := *s.Options
			sess.Options, sess.ID, sess.Values = &opts, id, v
			return sess, nil
		}
	}
	sess, err := s.FilesystemStore.New(r, name)
	if err == nil && statErr == nil && !sess.IsNew {
		s.remember(id, info, sess.Values, now)
	}
	return sess, err
}

func (s *fileStore) unchanged(id string, info os.FileInfo) (map[any]any, bool) {
	e, ok := s.seen.Get(id)
	if !ok || e.read.Sub(e.mod) < fileSettled ||
		info.Size() != e.size || !info.ModTime().Equal(e.mod) || inode(info) != e.inode {
		return nil, false
	}
	v, ok := clone(e.values)
	if !ok {
		return nil, false
	}
	return v.(map[any]any), true
}

func (s *fileStore) remember(id string, info os.FileInfo, values map[any]any, now time.Time) {
	v, ok := clone(values)
	if !ok {
		return
	}
	s.seen.Put(id, fileSeen{size: info.Size(), mod: info.ModTime(), inode: inode(info), values: v.(map[any]any), read: now})
}
