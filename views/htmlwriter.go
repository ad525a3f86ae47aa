package views

import (
	"io"

	"github.com/a-h/templ"
)

// templ boxes every value of a template into an interface and formats text
// through fmt, a few allocations per value. That is nothing on most pages,
// but the parts of the keys page that repeat (rows, fleet options) are
// written in Go with htmlWriter instead. It escapes every value as templ
// does, text and attribute alike (all attributes are quoted), and
// sanitizes URLs as templ does; literals are the only markup written raw.

// htmlWriter writes markup, keeping the first error.
type htmlWriter struct {
	w   io.StringWriter
	err error
}

func newHTMLWriter(w io.Writer) htmlWriter {
	if sw, ok := w.(io.StringWriter); ok {
		return htmlWriter{w: sw}
	}
	return htmlWriter{w: stringWriter{w}}
}

type stringWriter struct{ io.Writer }

func (w stringWriter) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// raw writes trusted markup: string literals and digits.
func (h *htmlWriter) raw(parts ...string) {
	for _, s := range parts {
		if h.err == nil {
			_, h.err = h.w.WriteString(s)
		}
	}
}

// escapes holds what html.EscapeString (and so templ) replaces.
var escapes = [256]string{'&': "&amp;", '<': "&lt;", '>': "&gt;", '"': "&#34;", '\'': "&#39;"}

// text writes s escaped for HTML text or a quoted attribute, without
// allocating.
func (h *htmlWriter) text(s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		if esc := escapes[s[i]]; esc != "" {
			h.raw(s[last:i], esc)
			last = i + 1
		}
	}
	h.raw(s[last:])
}

// url writes s as a link's href: sanitized as templ sanitizes href={ s }
// (a scheme other than http(s), mailto, tel and ftp(s) becomes
// templ.FailedSanitizationURL), then escaped. A javascript: link from
// data would otherwise run on a click.
func (h *htmlWriter) url(s string) {
	h.text(string(templ.URL(s)))
}
