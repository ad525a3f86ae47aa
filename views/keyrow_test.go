package views

import (
	"html"
	"strings"
	"testing"
)

// The hand-written row escapes exactly as templ does.
func FuzzRowTextEscapesLikeTempl(f *testing.F) {
	for _, s := range []string{"", "plain", `<img src=x onerror="alert('1')">`, "a & b", "&amp;", "ünïcode ⋯", "'\"<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b strings.Builder
		h := newHTMLWriter(&b)
		h.text(s)
		if want := html.EscapeString(s); b.String() != want || h.err != nil {
			t.Errorf("text(%q) = %q, want %q (err %v)", s, b.String(), want, h.err)
		}
	})
}
