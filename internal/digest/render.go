package digest

import (
	"bytes"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
)

// Text is the digest as plain text, in time zone loc: the email's plain
// part, and what a dry run prints.
func (d Digest) Text(loc *time.Location) string {
	return d.text(loc, func(s string) string { return s })
}

// ChatText is Text for a chat's incoming webhook, with bare links, which
// Slack, Mattermost and Rocket.Chat make clickable. The names in it come
// from whoever named a key or a device, so they are written to show as
// typed and to do nothing more: &, < and > as entities (Slack reads
// <!channel> as a mention of everyone, and the Markdown of the others
// decodes entities), and @ kept apart from what follows it by a zero-width
// space (no @channel, @here or @all).
func (d Digest) ChatText(loc *time.Location) string { return d.text(loc, chatEscaper.Replace) }

var chatEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "@", "@\u200b")

func (d Digest) text(loc *time.Location, esc func(string) string) string {
	var b strings.Builder
	b.WriteString(d.Subject(loc) + "\n")
	if d.Empty() {
		b.WriteString("\nNo key expires within " + apikeys.Span(d.widest()) + " and none expired since " + when(d.Since, loc) + ".\n")
	}
	for _, s := range d.sections(loc) {
		fmt.Fprintf(&b, "\n%s (%d)\n", s.Title, s.Total)
		for _, g := range s.Groups {
			fmt.Fprintf(&b, "  %s (%d): %s\n", esc(g.Name), len(g.Keys), g.Link)
			for _, k := range g.Keys {
				fmt.Fprintf(&b, "  - %s, owner %s, %s %s: %s\n", esc(k.Title), esc(k.Owner), s.Verb, when(k.Expires, loc), k.Link)
			}
		}
		if s.Total > s.Listed {
			fmt.Fprintf(&b, "  … and %d more, not listed here.\n", s.Total-s.Listed)
		}
	}
	return b.String()
}

// Subject is the digest in one line.
func (d Digest) Subject(loc *time.Location) string {
	return fmt.Sprintf("Keyportal digest, %s: %s expiring within %s, %s expired since %s",
		when(d.At, loc), keys(d.Expiring()), apikeys.Span(d.widest()), keys(d.Expired.Total), when(d.Since, loc))
}

// HTML is the digest as the email's HTML part; every name is escaped.
func (d Digest) HTML(loc *time.Location) string {
	var b bytes.Buffer
	err := page.Execute(&b, struct {
		Subject  string
		Empty    string
		Sections []shownSection
	}{d.Subject(loc), map[bool]string{true: "No key expires within " + apikeys.Span(d.widest()) + " and none expired since " + when(d.Since, loc) + "."}[d.Empty()], d.sections(loc)})
	if err != nil {
		panic(err) // the template is fixed and its data plain strings
	}
	return b.String()
}

var page = template.Must(template.New("digest").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body>
<h1>{{.Subject}}</h1>
{{with .Empty}}<p>{{.}}</p>{{end}}
{{range .Sections}}<h2>{{.Title}} ({{.Total}})</h2>
{{$verb := .Verb}}{{range .Groups}}<h3><a href="{{.Link}}">{{.Name}}</a> ({{len .Keys}})</h3>
<ul>
{{range .Keys}}<li><a href="{{.Link}}">{{.Title}}</a>, owner {{.Owner}}, {{$verb}} {{.When}}</li>
{{end}}</ul>
{{end}}{{if gt .Total .Listed}}<p>… and {{.More}} more, not listed here.</p>
{{end}}{{end}}</body></html>
`))

// shownSection is a section with its words, for both renderings.
type shownSection struct {
	Title, Verb   string
	Total, Listed int
	Groups        []shownGroup
}

func (s shownSection) More() int { return s.Total - s.Listed }

type shownGroup struct {
	Name, Link string
	Keys       []shownEntry
}

type shownEntry struct {
	Entry
	When string
}

func (d Digest) sections(loc *time.Location) []shownSection {
	var out []shownSection
	show := func(title, verb string, s Section) {
		if s.Total == 0 {
			return
		}
		ss := shownSection{Title: title, Verb: verb, Total: s.Total, Listed: s.Listed}
		for _, g := range s.Groups {
			sg := shownGroup{Name: groupName(g), Link: g.Link}
			for _, k := range g.Keys {
				sg.Keys = append(sg.Keys, shownEntry{Entry: k, When: when(k.Expires, loc)})
			}
			ss.Groups = append(ss.Groups, sg)
		}
		out = append(out, ss)
	}
	for i, w := range d.Windows {
		title := "Expiring within " + apikeys.Span(w.Within)
		if i > 0 { // each key is under the nearest window only
			title = "Expiring in " + apikeys.Span(d.Windows[i-1].Within) + " to " + apikeys.Span(w.Within)
		}
		show(title, "expires", w.Section)
	}
	show("Expired since "+when(d.Since, loc), "expired", d.Expired)
	return out
}

func (d Digest) widest() time.Duration {
	if len(d.Windows) == 0 {
		return 0
	}
	return d.Windows[len(d.Windows)-1].Within
}

func groupName(g Group) string {
	kind := map[apiclient.KeyKind]string{apiclient.KindUser: "User keys", apiclient.KindProvisioning: "Provisioning keys",
		apiclient.KindDevice: "Device keys"}[g.Kind]
	if kind == "" {
		kind = "Keys"
	}
	if g.Fleet != "" {
		return kind + " of " + g.Fleet
	}
	return kind
}

// when writes a moment as people read it in loc.
func when(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("Mon 2 Jan 2006 15:04 MST")
}

func keys(n int) string {
	if n == 1 {
		return "1 key"
	}
	return strconv.Itoa(n) + " keys"
}
