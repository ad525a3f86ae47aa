package views

import (
	"context"
	"io"
	"strconv"

	"github.com/a-h/templ"
)

// KeyRowFragment is one row of the keys table; an htmx row action answers
// with it alone.
//
// It is written in Go instead of templ (see htmlWriter): a page has up to
// 100 rows of about 16 values each, and they were two thirds of the
// table's rendering time and nearly all of its allocations (see
// BenchmarkKeyResults).
func KeyRowFragment(k KeyRow, canChange bool) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		h := newHTMLWriter(w)
		id := strconv.FormatInt(k.ID, 10)
		h.raw(`<tr data-key-id="`, id, `">`)
		if canChange {
			h.raw(`<td class="select"><input type="checkbox" name="id" value="`, id, `" form="bulk" aria-label="Select `)
			h.text(k.Label)
			h.raw(`"></td>`)
		}

		h.raw(`<td class="name">`)
		if k.URL != "" {
			h.raw(`<a href="`)
			h.url(k.URL)
			h.raw(`">`)
		}
		if k.Name == "" {
			h.raw(`<span class="muted">(unnamed)</span>`)
		} else {
			h.text(k.Name)
		}
		if k.URL != "" {
			h.raw(`</a>`)
		}
		if k.ReplacesURL != "" {
			h.raw(` <span class="lineage">replaces <a href="`)
			h.url(k.ReplacesURL)
			h.raw(`">#`, strconv.FormatInt(k.Replaces, 10), `</a></span>`)
		}
		if k.ReplacedByURL != "" {
			h.raw(` <span class="lineage">replaced by <a href="`)
			h.url(k.ReplacedByURL)
			h.raw(`">#`, strconv.FormatInt(k.ReplacedBy, 10), `</a></span>`)
		}
		h.raw(`</td><td class="kind-cell"><span class="kind" data-kind="`)
		h.text(k.Kind)
		h.raw(`">`)
		h.text(k.Kind)
		h.raw(`</span></td><td class="owner">`)
		h.text(k.Owner)
		if k.OwnerDetail != "" {
			h.raw(` <span class="muted mono">`)
			h.text(k.OwnerDetail)
			h.raw(`</span>`)
		}
		h.raw(`</td><td class="description">`)
		h.text(k.Description)

		h.raw(`</td><td class="created"><time `)
		h.timeRest(k.CreatedISO, k.Created)
		h.raw(`</td><td class="expires">`)
		if k.ExpiresISO == "" {
			h.raw(`<span class="expiry" data-state="`)
			h.text(k.ExpiryState)
			h.raw(`">`)
			h.text(k.Expires)
			h.raw(`</span>`)
		} else {
			h.raw(`<time class="expiry" data-state="`)
			h.text(k.ExpiryState)
			h.raw(`" `)
			h.timeRest(k.ExpiresISO, k.Expires)
		}
		h.raw(`</td><td class="last-seen" data-state="`)
		h.text(k.LastSeenState)
		h.raw(`">`)
		if k.LastSeenISO == "" {
			h.text(k.LastSeen)
		} else {
			h.raw(`<time `)
			h.timeRest(k.LastSeenISO, k.LastSeen)
		}
		h.raw(`</td><td class="key-id mono">`, id, `</td>`)

		if canChange {
			h.raw(`<td class="actions-cell"><details class="row-menu"><summary class="button ghost" aria-label="Actions for `)
			h.text(k.Label)
			h.raw(`">⋯</summary><div class="menu"><a href="`)
			h.url(k.ActionsURL)
			h.raw(`">Actions…</a></div></details></td>`)
		}
		h.raw(`</tr>`)
		return h.err
	})
}

// timeRest ends a <time> element opened with its other attributes: its
// datetime, a title that repeats it (cheap to send: gzip refers back to
// it) so that the exact time shows on hover even without JavaScript
// (app.js rewrites it in the reader's time zone), and its text.
func (h *htmlWriter) timeRest(iso, text string) {
	h.raw(`datetime="`)
	h.text(iso)
	h.raw(`" title="`)
	h.text(iso)
	h.raw(`">`)
	h.text(text)
	h.raw(`</time>`)
}
