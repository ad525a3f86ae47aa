package views

import (
	"context"
	"io"

	"github.com/a-h/templ"
)

// fleetOptions are the <option>s of a fleet picker, with selected chosen.
// An option without a value submits its text, the slug. An organisation
// can have hundreds of fleets, so this is written with htmlWriter.
func fleetOptions(slugs []string, selected string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		h := newHTMLWriter(w)
		for _, s := range slugs {
			if s == selected {
				h.raw(`<option selected>`)
			} else {
				h.raw(`<option>`)
			}
			h.text(s)
			h.raw(`</option>`)
		}
		return h.err
	})
}
