package apiclient

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"abc-_.~XYZ09", "'abc-_.~XYZ09'"},
		{"O'Brien", "'O''Brien'"},
		{"''", "''''''"},
		{"a&b#c+d%e", "'a%26b%23c%2Bd%25e'"},
		{"a b", "'a%20b'"},
		{"%27", "'%2527'"},
		{"é", "'%C3%A9'"},
		{"(x)/y,z;$", "'%28x%29%2Fy%2Cz%3B%24'"},
	}
	for _, tt := range tests {
		if got := quote(tt.in); got != tt.want {
			t.Errorf("quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestQuoteRoundTrip decodes a literal the way pine does (undouble the
// quotes, then URL-decode) and expects the original text back.
func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "O'Brien", "100% & more", "a+b=c?d#e", "日本語 ' %2F"} {
		q := quote(s)
		inner := strings.ReplaceAll(q[1:len(q)-1], "''", "'")
		got, err := url.PathUnescape(inner)
		if err != nil || got != s {
			t.Errorf("quote(%q) = %s decodes to %q, %v", s, q, got, err)
		}
		if strings.ContainsAny(inner, " &#+") {
			t.Errorf("quote(%q) = %s leaves a character the query string would eat", s, q)
		}
	}
}

func TestDatetime(t *testing.T) {
	loc := time.FixedZone("X", 2*3600)
	got := datetime(time.Date(2025, 1, 31, 14, 0, 0, 123456789, loc))
	if want := "datetime'2025-01-31T12:00:00.123Z'"; got != want {
		t.Errorf("datetime = %s, want %s", got, want)
	}
}

func TestGroups(t *testing.T) {
	tests := []struct{ got, want string }{
		{and(), ""},
		{and("", ""), ""},
		{and("a"), "a"},
		{and("a", "", "b"), "(a and b)"},
		{or("a", "b", "c"), "(a or b or c)"},
		{and(or("a", "b"), "c"), "((a or b) and c)"},
		{or(and("a", "b"), and("c", "d")), "((a and b) or (c and d))"},
		{not(or("a", "b")), "not((a or b))"},
		{in("x", []int64{7}), "x eq 7"},
		{in("x", []int64{1, 2, 3}), "x in (1,2,3)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestEncode(t *testing.T) {
	o := odata{
		Select:  []string{"id", "name"},
		Filter:  and("name eq "+quote("a b&c"), "id gt 1"),
		Expand:  "x($select=id;$expand=y)",
		OrderBy: []string{"name asc", "id asc"},
		Top:     50,
		Skip:    100,
	}
	want := "$select=id,name&$filter=(name%20eq%20'a%20b%26c'%20and%20id%20gt%201)" +
		"&$expand=x($select=id;$expand=y)&$orderby=name%20asc,id%20asc&$top=50&$skip=100"
	if got := o.encode(); got != want {
		t.Errorf("encode =\n %s\nwant\n %s", got, want)
	}
	if got := (odata{}).encode(); got != "" {
		t.Errorf("empty encode = %q", got)
	}
}
