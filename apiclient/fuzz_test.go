package apiclient

import (
	stdjson "encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keyportal/keyportal/apiclient/balenasim"
)

// FuzzTextFilter proves that whatever a user types as search text, the
// filter balena receives matches exactly the keys whose name or
// description contains it, ignoring case: no text can end the string
// literal early, change the expression or lose a character on the way.
// It stores a key named name and one described by name in the stand-in,
// lists with Text: text through its OData parser, and compares.
func FuzzTextFilter(f *testing.F) {
	seeds := []string{
		"", "a", "A", "O'Brien", "'", "''", "'''", "100%", "%", "%25", "%27", "%2", "%zz", "a&b", "a&$top=1",
		"#tag", "1+1", "a b", "_", "\\", "/", ")(", "(", "*", "~!", ";", "=", "?", "@", ",", "$filter=",
		"' or 1 eq 1 or '", "') or true or ('", "tolower(", "ÄÖü", "äöÜ", "İstanbul", "ß", "ẞ", "Σ", "ς",
		"日本語", "emoji 🔑", "\x00", "\t\n", "\u00a0", "\ufeff", "ǅ",
	}
	for i, s := range seeds {
		f.Add(s, seeds[(i+1)%len(seeds)])
		f.Add(s, strings.ToUpper(s))
		f.Add("key "+s+" end", s)
	}
	e := newEnv(f, balenasim.Options{Dataset: "empty"})
	s := e.session(f, balenasim.DemoEmail)

	f.Fuzz(func(t *testing.T, name, text string) {
		if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 50 {
			t.Skip("not a name balena stores")
		}
		if !utf8.ValidString(text) || len(text) > maxTextLen {
			if _, err := s.ListKeys(ctx(t), KeyQuery{Text: text}); ErrorCode(err) != CodeInvalid {
				t.Fatalf("text %q: %v, want invalid", text, err)
			}
			return
		}
		named, err := s.CreateUserKey(ctx(t), NewKey{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		described, err := s.CreateUserKey(ctx(t), NewKey{Name: "other", Description: name})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]int64{}
		for _, k := range e.sim.Keys() {
			switch k.Secret {
			case named:
				ids["named"] = k.ID
			case described:
				ids["described"] = k.ID
			}
		}
		defer func() {
			for _, id := range ids {
				if err := s.DeleteKey(ctx(t), id); err != nil {
					t.Fatal(err)
				}
			}
		}()

		contains := func(s string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(text)) }
		want := map[int64]bool{}
		if contains(name) {
			want[ids["named"]] = true
		}
		if contains("other") || contains(name) {
			want[ids["described"]] = true
		}
		page, err := s.ListKeys(ctx(t), KeyQuery{Text: text})
		if err != nil {
			t.Fatalf("text %q: %v", text, err)
		}
		got := map[int64]bool{}
		for _, k := range page.Keys {
			got[k.ID] = true
		}
		if len(got) != len(want) || page.Total != len(want) {
			t.Fatalf("name %q, text %q: got %v (total %d), want %v", name, text, got, page.Total, want)
		}
		for id := range want {
			if !got[id] {
				t.Fatalf("name %q, text %q: got %v, want %v", name, text, got, want)
			}
		}
	})
}

// FuzzDecodeKeyPage feeds arbitrary answers to the decoding of a page of
// keys, in both of the shapes the client asks for: whatever balena (or a
// proxy in front of it) sends, the decoder returns rows or an error and
// never panics, and it agrees with encoding/json on which answers are
// readable and on what they say.
func FuzzDecodeKeyPage(f *testing.F) {
	for _, seed := range []string{
		`{"d":[]}`,
		`{"d":[{"id":1,"name":"ci","description":null,"created_at":"2026-01-02T03:04:05.678Z","expiry_date":null,` +
			`"is_of__actor":[{"id":7,"is_of__user":[{"id":3,"username":"admin"}],"is_of__application":[],"is_of__device":[]}]}]}`,
		`{"d":[{"id":2,"created_at":"2026-01-02T03:04:05Z","expiry_date":"2027-01-02T03:04:05Z","is_of__actor":{"__id":9}}]}`,
		`{"d":[{"id":3,"is_of__actor":12}]}`, `{"d":null}`, `<html>502</html>`, `{"d":[{"id":"x"}]}`, `{"d":[{"id":1e400}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		decodeBoth[expandedKeyRow](t, body)
		decodeBoth[keyRow](t, body)
	})
}

func decodeBoth[R interface{ key() APIKey }](t *testing.T, body []byte) {
	var fast, std struct {
		D *[]R `json:"d"`
	}
	fastErr := decodeJSON("list keys", body, &fast)
	stdErr := stdjson.Unmarshal(body, &std)
	if (fastErr == nil) != (stdErr == nil) {
		t.Fatalf("the decoders disagree on %q: %v / %v", body, fastErr, stdErr)
	}
	if fastErr != nil || fast.D == nil || std.D == nil {
		return
	}
	if len(*fast.D) != len(*std.D) {
		t.Fatalf("%q: %d rows, encoding/json reads %d", body, len(*fast.D), len(*std.D))
	}
	for i := range *fast.D {
		if a, b := (*fast.D)[i].key(), (*std.D)[i].key(); !reflect.DeepEqual(a, b) {
			t.Fatalf("%q: row %d is %+v, encoding/json reads %+v", body, i, a, b)
		}
	}
}
