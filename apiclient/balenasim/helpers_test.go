package balenasim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testNow is the fixed clock of the tests, so that rendered dates are stable.
var testNow = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

func newTestSim(t testing.TB, opts Options) *Sim {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// secretOf finds a seeded key's secret by name.
func secretOf(t testing.TB, s *Sim, name string) string {
	t.Helper()
	for _, k := range s.Keys() {
		if k.Name != nil && *k.Name == name {
			return k.Secret
		}
	}
	t.Fatalf("no key named %q", name)
	return ""
}

// credential returns the bearer token for a named role of the tests.
func credential(t testing.TB, s *Sim, as string) string {
	t.Helper()
	tok := func(email string, at time.Time) string {
		j, err := s.IssueToken(email, at)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	switch as {
	case "", "anon":
		return ""
	case "admin":
		return tok(DemoEmail, testNow.Add(-time.Minute))
	case "stale":
		return tok(DemoEmail, testNow.Add(-21*time.Minute))
	case "bob":
		return tok(DemoOtherEmail, testNow)
	case "twofa":
		return tok(Demo2FAEmail, testNow)
	case "userkey":
		return secretOf(t, s, "grafana-readonly")
	case "expiredkey":
		return secretOf(t, s, "old-laptop")
	case "provkey":
		return secretOf(t, s, "plant-1 provisioning")
	case "devkey":
		return secretOf(t, s, "press-ctrl maintenance")
	case "garbage":
		return "not-a-key"
	case "badjwt":
		return "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6MX0.c2lnbmF0dXJl"
	}
	t.Fatalf("unknown credential %q", as)
	return ""
}

// do serves one request in-process and returns status, headers and body.
func do(t testing.TB, s *Sim, method, target, as, body string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if tok := credential(t, s, as); tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w.Code, w.Header(), w.Body.Bytes()
}

// A check inspects a response body; it returns a description of what is
// wrong, or "".
type check func(target string, body []byte) string

func exact(want string) check {
	return func(_ string, body []byte) string {
		if string(body) != want {
			return fmt.Sprintf("body %s, want %s", body, want)
		}
		return ""
	}
}

var emptyBody = exact("")

func malformed() check {
	return func(target string, body []byte) string {
		want := appendJSONString(nil, "Malformed url: '"+target+"'")
		if !bytes.Equal(body, want) {
			return fmt.Sprintf("body %s, want %s", body, want)
		}
		return ""
	}
}

func rowsOf(body []byte) ([]map[string]any, string) {
	var env struct {
		D []map[string]any `json:"d"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Sprintf("not a {\"d\":[…]} body: %s", body)
	}
	return env.D, ""
}

// ids checks the ids of the rows, in order.
func ids(want ...int) check {
	return func(_ string, body []byte) string {
		rows, bad := rowsOf(body)
		if bad != "" {
			return bad
		}
		got := make([]int, len(rows))
		for i, r := range rows {
			f, _ := r["id"].(float64)
			got[i] = int(f)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Sprintf("ids %v, want %v", got, want)
		}
		return ""
	}
}

// names checks the name field of the rows, in order ("<nil>" for null).
func names(want ...string) check {
	return func(_ string, body []byte) string {
		rows, bad := rowsOf(body)
		if bad != "" {
			return bad
		}
		got := make([]string, len(rows))
		for i, r := range rows {
			got[i] = fmt.Sprint(r["name"])
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			return fmt.Sprintf("names %q, want %q", got, want)
		}
		return ""
	}
}

func nrows(n int) check {
	return func(_ string, body []byte) string {
		rows, bad := rowsOf(body)
		if bad != "" {
			return bad
		}
		if len(rows) != n {
			return fmt.Sprintf("%d rows, want %d", len(rows), n)
		}
		return ""
	}
}

func count(n int) check { return exact(fmt.Sprintf(`{"d":%d}`, n)) }

// fieldOrder checks the keys of the first row, in order.
func fieldOrder(want ...string) check {
	return func(_ string, body []byte) string {
		dec := json.NewDecoder(bytes.NewReader(body))
		for _, w := range []any{json.Delim('{'), "d", json.Delim('['), json.Delim('{')} {
			if tok, err := dec.Token(); err != nil || tok != w {
				return fmt.Sprintf("unexpected body %s", body)
			}
		}
		var got []string
		for dec.More() {
			tok, _ := dec.Token()
			k, _ := tok.(string)
			got = append(got, k)
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return fmt.Sprintf("bad JSON %s", body)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Sprintf("fields %v, want %v", got, want)
		}
		return ""
	}
}

var keyRe = regexp.MustCompile(`^"[0-9A-Za-z]{32}"$`)

func newKey() check {
	return func(_ string, body []byte) string {
		if !keyRe.Match(body) {
			return fmt.Sprintf("body %s, want a 32-character key as a JSON string", body)
		}
		return ""
	}
}

func has(sub string) check {
	return func(_ string, body []byte) string {
		if !strings.Contains(string(body), sub) {
			return fmt.Sprintf("body %s lacks %s", body, sub)
		}
		return ""
	}
}
