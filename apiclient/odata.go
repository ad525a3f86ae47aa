package apiclient

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file is the only place that writes OData. Every literal goes through
// quote or datetime, and every and/or group through and/or, so that user
// text can neither break out of a string nor change what a filter means.

// quote writes s as a string literal the way pinejs-client does: a ' is
// doubled, then everything but unreserved characters is percent-encoded.
// pine URL-decodes a literal after parsing it, so &, #, + and % survive
// the trip through the query string.
func quote(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			// Kept raw and doubled: pine also reads %27 as a quote.
			b.WriteString("''")
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// lowerLiteral writes s, lowercased, for matching against tolower(field).
// Outside ASCII the server lowercases it too, so that its idea of case is
// the only one. ASCII is lowered here, where everyone agrees on it, which
// leaves the server a plain literal to match.
func lowerLiteral(s string) string {
	if !isASCII(s) {
		return "tolower(" + quote(s) + ")"
	}
	return quote(strings.ToLower(s))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// datetime writes t as the literal pinejs-client emits for a JS Date.
func datetime(t time.Time) string {
	return "datetime'" + t.UTC().Format(isoMillis) + "'"
}

// isoMillis is how balena writes Date Time fields (JS toISOString).
const isoMillis = "2006-01-02T15:04:05.000Z07:00"

func days(n int) string { return "duration'P" + strconv.Itoa(n) + "D'" }

func num(n int64) string { return strconv.FormatInt(n, 10) }

// and joins conditions, skipping empty ones. balena gives and/or the same
// precedence, left to right, so every group of two or more is parenthesised.
func and(conds ...string) string { return join(" and ", conds) }

// or is and's sibling; see and.
func or(conds ...string) string { return join(" or ", conds) }

func join(op string, conds []string) string {
	var kept []string
	for _, c := range conds {
		if c != "" {
			kept = append(kept, c)
		}
	}
	switch len(kept) {
	case 0:
		return ""
	case 1:
		return kept[0]
	}
	return "(" + strings.Join(kept, op) + ")"
}

func not(cond string) string { return "not(" + cond + ")" }

// in writes "field in (1,2,3)"; callers handle the empty set, which OData
// cannot express.
func in(field string, ids []int64) string {
	if len(ids) == 1 {
		return field + " eq " + num(ids[0])
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = num(id)
	}
	return field + " in (" + strings.Join(parts, ",") + ")"
}

// odata holds the options of one OData request.
type odata struct {
	Select  []string
	Filter  string
	Expand  string
	OrderBy []string // each "field asc" or "field desc"
	Top     int      // 0: no $top
	Skip    int
}

// encode writes the raw query string. Literals are already encoded; the
// rest of an expression only needs its spaces encoded, which is why this
// cannot go through url.Values (it would encode the % of every literal
// a second time).
func (o odata) encode() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+strings.ReplaceAll(v, " ", "%20"))
		}
	}
	add("$select", strings.Join(o.Select, ","))
	add("$filter", o.Filter)
	add("$expand", o.Expand)
	add("$orderby", strings.Join(o.OrderBy, ","))
	if o.Top > 0 {
		add("$top", strconv.Itoa(o.Top))
	}
	if o.Skip > 0 {
		add("$skip", strconv.Itoa(o.Skip))
	}
	return strings.Join(parts, "&")
}
