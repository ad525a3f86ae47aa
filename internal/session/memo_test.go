package session

import (
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

// countingCodec is a real codec that counts the decodes it really does.
type countingCodec struct {
	securecookie.Codec
	decodes *int
}

func (c countingCodec) Decode(name, value string, dst any) error {
	*c.decodes++
	return c.Codec.Decode(name, value, dst)
}

func memoCodecs(t *testing.T, now *time.Time) ([]securecookie.Codec, *int) {
	t.Helper()
	pairs, err := cookieKeyPairs([][]byte{[]byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	decodes := new(int)
	inner := []securecookie.Codec{countingCodec{securecookie.CodecsFromPairs(pairs...)[0], decodes}}
	return newSessionMemo(func() time.Time { return *now }).wrap(inner), decodes
}

func TestSessionMemo(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	codecs, decodes := memoCodecs(t, &now)
	stored := map[any]any{sessionValue: &User{Token: "token-1", CanChangeKeys: true}}
	record, err := securecookie.EncodeMulti(sessionCookie, stored, codecs...)
	if err != nil {
		t.Fatal(err)
	}
	stored[sessionValue].(*User).Token = "changed after saving"

	load := func() *User {
		t.Helper()
		var values map[any]any
		if err := securecookie.DecodeMulti(sessionCookie, record, &values, codecs...); err != nil {
			t.Fatal(err)
		}
		return values[sessionValue].(*User)
	}

	// What was saved is what loads, without decoding, and a request that
	// changes its copy changes nothing for the next one.
	u := load()
	if u.Token != "token-1" || !u.CanChangeKeys || *decodes != 0 {
		t.Fatalf("first load: %+v after %d decodes", u, *decodes)
	}
	u.Token = "changed by a request"
	if u := load(); u.Token != "token-1" {
		t.Fatalf("second load sees %q", u.Token)
	}

	// A record that differs by one byte is decoded, and refused.
	tampered := record[:len(record)-2] + "AA"
	var values map[any]any
	if err := securecookie.DecodeMulti(sessionCookie, tampered, &values, codecs...); err == nil || *decodes != 1 {
		t.Errorf("tampered record: err %v after %d decodes", err, *decodes)
	}

	// After memoFor, the record is decoded (and its age checked) again.
	now = now.Add(memoFor)
	if u := load(); u.Token != "token-1" || *decodes != 2 {
		t.Errorf("after %v: %+v after %d decodes", memoFor, u, *decodes)
	}
	if load(); *decodes != 2 {
		t.Errorf("decoded again within %v: %d decodes", memoFor, *decodes)
	}
}

func TestSessionMemoStaysBounded(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	m := newSessionMemo(func() time.Time { return now })
	for i := range memoMax + 10 {
		m.Put(memoKey{"id", string(rune(i))}, "id")
	}
	if n := m.Len(); n > memoMax {
		t.Errorf("%d entries, want at most %d", n, memoMax)
	}
}
