package session

import (
	"time"

	"github.com/gorilla/securecookie"

	"github.com/keyportal/keyportal/internal/ttlcache"
)

// Every signed-in request decodes the session cookie and the stored
// record: two HMACs, two AES passes and a gob decode that compiles its
// decoder afresh each time, close to a tenth of the portal's own CPU per
// page (BenchmarkLoad). The same encoded string always decodes to the same
// value, so the codecs remember what they recently decoded (or encoded) by
// the exact string. Only a byte-for-byte identical cookie or record is a
// hit, and the store still reads the record on every request (the session
// file, or Redis), so a session another replica changed or deleted is
// never served from memory.
const (
	// memoFor bounds how long a decoded value is trusted without decoding
	// it again; it keeps the codecs' own age check (30 days) within a
	// minute.
	memoFor = time.Minute
	// memoMax bounds the memo (entries are a few kilobytes at most).
	memoMax = 4096
)

// memoKey is a cookie's or record's name and its encoded value.
type memoKey struct{ name, encoded string }

// sessionMemo holds copies of decoded values (see clone), never handed
// out themselves.
type sessionMemo struct {
	*ttlcache.Cache[memoKey, any]
}

func newSessionMemo(now func() time.Time) *sessionMemo {
	return &sessionMemo{ttlcache.New[memoKey, any](memoFor, memoMax, now)}
}

// wrap returns codecs that consult and fill m. Wrap after configuring the
// codecs: stores reach their settings through the concrete type.
func (m *sessionMemo) wrap(codecs []securecookie.Codec) []securecookie.Codec {
	out := make([]securecookie.Codec, len(codecs))
	for i, c := range codecs {
		out[i] = memoCodec{c, m}
	}
	return out
}

// memoCodec is a securecookie codec that remembers its results.
type memoCodec struct {
	securecookie.Codec
	m *sessionMemo
}

func (c memoCodec) Encode(name string, value any) (string, error) {
	encoded, err := c.Codec.Encode(name, value)
	if err == nil {
		if v, ok := clone(value); ok {
			c.m.Put(memoKey{name, encoded}, v)
		}
	}
	return encoded, err
}

func (c memoCodec) Decode(name, value string, dst any) error {
	key := memoKey{name, value}
	if v, ok := c.m.Get(key); ok && assign(dst, v) {
		return nil
	}
	if err := c.Codec.Decode(name, value, dst); err != nil {
		return err
	}
	if v, ok := clone(dst); ok {
		c.m.Put(key, v)
	}
	return nil
}

// clone copies what the session stores hand the codecs, the session id
// (a string) and its values (a map holding a *User), so that a
// handler changing its session cannot change the memo. Anything else is
// not remembered.
func clone(v any) (any, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case *string:
		return *v, true
	case map[any]any:
		out := make(map[any]any, len(v))
		for k, x := range v {
			u, ok := x.(*User)
			if !ok {
				return nil, false
			}
			c := *u
			out[k] = &c
		}
		return out, true
	case *map[any]any:
		return clone(*v)
	}
	return nil, false
}

// assign copies a remembered value into dst, as Decode would have.
func assign(dst, v any) bool {
	switch d := dst.(type) {
	case *string:
		s, ok := v.(string)
		if ok {
			*d = s
		}
		return ok
	case *map[any]any:
		c, ok := clone(v)
		if ok {
			*d = c.(map[any]any)
		}
		return ok
	}
	return false
}
