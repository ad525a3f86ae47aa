package views

import "io"

// templ boxes every value of a template into an interface and formats text
// through fmt, a few allocations per value. That is nothing on most pages,
// but the parts of the keys page that repeat (rows, fleet options) are
// written in Go with htmlWriter instead. It escapes every value as templ
// does, text and attribute alike (all attributes are quoted); literals are
// the only markup written raw.

// htmlWriter writes markup, keeping the first error.
type htmlWriter struct {
	w   io.Writer
	err error
}

// raw writes trusted markup: string literals and digits.
func (h *htmlWriter) raw(parts ...string) {
	for _, s := range parts {
		if h.err == nil {
			_, h.err = io.WriteString(h.w, s)
		}
	}
}

// text writes s escaped for HTML text or a quoted attribute, with the
// same replacements as html.EscapeString (and so templ), without
// allocating.
func (h *htmlWriter) text(s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		default:
			continue
		}
		h.raw(s[last:i], esc)
		last = i + 1
	}
	h.raw(s[last:])
}
