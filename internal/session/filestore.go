package session

import (
	"encoding/base32"
	"errors"
	"net/http"
	"os"
	"path/filepath"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// fileStore keeps each session in a file of its own, in the format of
// gorilla's FilesystemStore (the sealed values; files written by earlier
// versions load as they are), but never writes over a session in place:
// a record goes to a temporary file in the same directory, which then
// replaces the old one. A write that fails half-way (a full disk) leaves
// the session as it was, or no session at all, never a truncated file.
type fileStore struct {
	dir     string
	codecs  []securecookie.Codec
	options *sessions.Options
	// write writes b to f; tests make it fail half-way, as a full disk does.
	write func(f *os.File, b []byte) (int, error)
}

// File names in the session directory.
const (
	sessionFilePrefix = "session_"
	tempFilePrefix    = ".tmp-"
)

var sessionIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newFileStore(dir string, codecs []securecookie.Codec, opts sessions.Options) *fileStore {
	return &fileStore{dir: dir, codecs: codecs, options: &opts, write: (*os.File).Write}
}

// Get returns the request's session, once per request (gorilla's registry).
func (s *fileStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New reads the session the request's cookie names. Its errors are
// gorilla's: a cookie that does not decode, a file that is not there
// (fs.ErrNotExist), a record that does not decode.
func (s *fileStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := *s.options
	sess.Options = &opts
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	if err := securecookie.DecodeMulti(name, c.Value, &sess.ID, s.codecs...); err != nil {
		return sess, err
	}
	data, err := os.ReadFile(s.path(sess.ID))
	if err != nil {
		return sess, err
	}
	if err := securecookie.DecodeMulti(name, string(data), &sess.Values, s.codecs...); err != nil {
		return sess, err
	}
	sess.IsNew = false
	return sess, nil
}

// Save writes the session and its cookie, or, with MaxAge <= 0, deletes
// both.
func (s *fileStore) Save(_ *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options.MaxAge <= 0 {
		if err := os.Remove(s.path(sess.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	if sess.ID == "" {
		// The id names the file: letters and digits only.
		sess.ID = sessionIDEncoding.EncodeToString(securecookie.GenerateRandomKey(32))
	}
	record, err := securecookie.EncodeMulti(sess.Name(), sess.Values, s.codecs...)
	if err != nil {
		return err
	}
	if err := s.replace(s.path(sess.ID), []byte(record)); err != nil {
		return err
	}
	cookie, err := securecookie.EncodeMulti(sess.Name(), sess.ID, s.codecs...)
	if err != nil {
		return err
	}
	http.SetCookie(w, sessions.NewCookie(sess.Name(), cookie, sess.Options))
	return nil
}

func (s *fileStore) path(id string) string {
	return filepath.Join(s.dir, sessionFilePrefix+filepath.Base(id))
}

// replace makes name hold data, all of it or (on failure) what it held
// before: data goes to a new temporary file (mode 0600), is synced to
// disk, and is renamed over name, which is atomic within a directory.
func (s *fileStore) replace(name string, data []byte) error {
	tmp, err := s.temp(data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// temp writes data to a new temporary file in the directory and returns
// its name; on failure nothing is left behind.
func (s *fileStore) temp(data []byte) (string, error) {
	f, err := os.CreateTemp(s.dir, tempFilePrefix+"*")
	if err != nil {
		return "", err
	}
	_, err = s.write(f, data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// probe checks that a session could be written now: a file of a
// session's size is written and synced in the directory, then removed.
func (s *fileStore) probe() error {
	tmp, err := s.temp(make([]byte, 4<<10))
	if err != nil {
		return err
	}
	return os.Remove(tmp)
}
