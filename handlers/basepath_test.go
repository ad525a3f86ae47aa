package handlers_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
)

// crawler walks a portal as a browser would, from its base path: it follows
// every redirect, link, static file, htmx URL and form (GET forms as they
// stand, POST forms filled in, signing out last), so that a page added later
// is covered without this test naming it. It reports every URL that a page,
// a redirect or an htmx header points at outside the base path, and every
// cookie set for a wider Path.
type crawler struct {
	t     *testing.T
	http  *http.Client
	root  *url.URL // the server's root
	base  string   // KEYPORTAL_BASE_PATH
	fill  map[string]string
	gets  []fetch
	posts []form
	seen  map[string]bool
	epoch int // bumped when a form signs in or out: pages look different then
	// signedIn, if set, runs once, after the first sign-in.
	signedIn func()
	visited  []string // templates of what was fetched, for the report
	bad      []string
}

type fetch struct {
	url  string
	htmx bool
	from string
}

type form struct {
	action string
	values url.Values
	from   string
}

func newCrawler(t *testing.T, env *portaltest.Env, fill map[string]string) *crawler {
	jar, _ := cookiejar.New(nil)
	root, _ := url.Parse(env.URL)
	return &crawler{t: t, root: root, base: env.Config.BasePath, fill: fill, seen: map[string]bool{},
		http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// inside reports whether ref, seen on page from, stays under the base path
// of the same server.
func (c *crawler) inside(from, ref string) (*url.URL, bool) {
	f, _ := url.Parse(from)
	u, err := f.Parse(ref)
	if err != nil || u.Scheme != c.root.Scheme || u.Host != c.root.Host {
		return nil, false
	}
	return u, u.Path == c.base || strings.HasPrefix(u.Path, c.base+"/")
}

var digits = regexp.MustCompile(`/[0-9]+(/|$)`)

// template is what makes two requests the same page for the crawl: the path
// with ids blanked and the names (not values) of the query, so that a table
// of a hundred keys is one page, not a hundred.
func template(method string, u *url.URL, htmx bool) string {
	names := make([]string, 0, len(u.Query()))
	for k := range u.Query() {
		names = append(names, k)
	}
	sort.Strings(names)
	p := digits.ReplaceAllString(u.Path, "/{id}$1")
	return method + " " + p + "?" + strings.Join(names, "&") + map[bool]string{true: " (htmx)"}[htmx]
}

func (c *crawler) check(from, what, ref string) {
	if ref == "" || strings.HasPrefix(ref, "#") {
		return
	}
	if _, ok := c.inside(from, ref); !ok {
		c.bad = append(c.bad, from+": "+what+" "+ref+" is outside "+c.base+"/")
	}
}

func (c *crawler) queueGet(from, ref string, htmx bool) {
	c.check(from, "link", ref)
	if strings.HasPrefix(ref, "#") {
		return // this very page
	}
	if u, ok := c.inside(from, ref); ok {
		u.Fragment = ""
		if t := fmt.Sprint(c.epoch, template("GET", u, htmx)); !c.seen[t] {
			c.seen[t] = true
			c.gets = append(c.gets, fetch{url: u.String(), htmx: htmx, from: from})
		}
	}
}

func (c *crawler) do(req *http.Request, from string) {
	c.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	here := req.URL.String()
	c.visited = append(c.visited, template(req.Method, req.URL, req.Header.Get("HX-Request") != "")+" → "+strconv.Itoa(res.StatusCode))
	if res.StatusCode >= 500 {
		c.bad = append(c.bad, here+" (from "+from+"): status "+res.Status)
	}
	for _, ck := range res.Cookies() {
		if ck.Name == "keyportal_session" && req.Method == http.MethodPost {
			c.epoch++
			if c.signedIn != nil && ck.MaxAge >= 0 {
				c.signedIn()
				c.signedIn = nil
			}
		}
		if ck.Path != c.base {
			c.bad = append(c.bad, here+": cookie "+ck.Name+" has Path="+ck.Path+", want "+c.base)
		}
	}
	if loc := res.Header.Get("Location"); loc != "" {
		c.check(here, "redirect", loc)
		c.queueGet(here, loc, false)
	}
	for _, h := range []string{"HX-Redirect", "HX-Location", "HX-Push-Url", "HX-Replace-Url"} {
		if v := res.Header.Get(h); v != "" && v != "false" {
			c.check(here, h, v)
			c.queueGet(here, v, false)
		}
	}
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		_, _ = io.Copy(io.Discard, res.Body)
		return
	}
	doc, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	// A <template> (the row menu app.js copies into each row) holds URLs
	// with an {id} slot: they must stay under the base path too, but are no
	// page to fetch.
	link := func(s *goquery.Selection, ref string, htmx bool) {
		if s.Closest("template").Length() > 0 {
			c.check(here, "template link", ref)
			return
		}
		c.queueGet(here, ref, htmx)
	}
	doc.Find("[href], [src], [action], [formaction]").Each(func(_ int, s *goquery.Selection) {
		for _, a := range []string{"href", "src", "formaction"} {
			if v, ok := s.Attr(a); ok {
				link(s, v, false)
			}
		}
		if v, ok := s.Attr("action"); ok {
			c.check(here, "form action", v)
		}
	})
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			switch a.Key {
			case "hx-get":
				link(s, a.Val, true)
			case "hx-post", "hx-put", "hx-patch", "hx-delete":
				c.check(here, a.Key, a.Val)
			case "hx-push-url", "hx-replace-url":
				if a.Val != "true" && a.Val != "false" {
					link(s, a.Val, false)
				}
			}
		}
	})
	doc.Find("form").Each(func(_ int, f *goquery.Selection) {
		if f.Closest("template").Length() == 0 {
			c.queueForm(here, doc, f)
		}
	})
}

// queueForm fills a form as a person would: what it holds, checked boxes
// ticked, empty fields typed into, the first submit button pressed.
// Fields outside it that name it (form="id", the table's checkboxes) count.
func (c *crawler) queueForm(from string, doc *goquery.Document, f *goquery.Selection) {
	v := url.Values{}
	fields := f.Find("input, textarea, select")
	if id := f.AttrOr("id", ""); id != "" {
		fields = fields.AddSelection(doc.Find(`[form="` + id + `"]`))
	}
	fields.Each(func(_ int, s *goquery.Selection) {
		name := s.AttrOr("name", "")
		typ := s.AttrOr("type", "text")
		if name == "" || typ == "submit" || typ == "button" || (typ == "radio" && s.AttrOr("checked", "-") == "-") {
			return
		}
		val := s.AttrOr("value", "")
		switch goquery.NodeName(s) {
		case "textarea":
			val = s.Text()
		case "select":
			o := s.Find("option[selected]")
			if o.Length() == 0 {
				o = s.Find("option").First()
			}
			val = o.AttrOr("value", o.Text())
		}
		if fill, ok := c.fill[name]; ok && val == "" {
			val = fill
		} else if fill, ok := c.fill[typ]; ok && val == "" {
			val = fill
		}
		v.Add(name, val)
	})
	if b := f.Find("button[type=submit][name], button:not([type])[name]").First(); b.Length() > 0 {
		v.Set(b.AttrOr("name", ""), b.AttrOr("value", ""))
	}
	action := f.AttrOr("action", from)
	u, ok := c.inside(from, action)
	if !ok {
		return // check reported it
	}
	if !strings.EqualFold(f.AttrOr("method", "get"), "post") {
		u.RawQuery = v.Encode()
		c.queueGet(from, u.String(), false)
		return
	}
	names := make([]string, 0, len(v))
	for k := range v {
		names = append(names, k)
	}
	sort.Strings(names)
	if t := template("POST", u, false) + " " + strings.Join(names, ","); !c.seen[t] {
		c.seen[t] = true
		c.posts = append(c.posts, form{action: u.String(), values: v, from: from})
	}
}

// run fetches every page it can reach from start. GETs go first, then one
// form at a time (signing out last), so a form that revokes a key does so
// after every page about it was seen.
func (c *crawler) run(start ...string) {
	for _, s := range start {
		c.queueGet(c.root.String(), s, false)
	}
	for len(c.gets) > 0 || len(c.posts) > 0 {
		if len(c.visited) > 400 {
			c.t.Fatalf("the crawl did not end after 400 requests: %v", c.visited)
		}
		if len(c.gets) > 0 {
			g := c.gets[0]
			c.gets = c.gets[1:]
			req, _ := http.NewRequest(http.MethodGet, g.url, nil)
			if g.htmx {
				req.Header.Set("HX-Request", "true")
				req.Header.Set("HX-Current-URL", g.from)
			}
			c.do(req, g.from)
			continue
		}
		next := 0
		for i, p := range c.posts {
			if !strings.Contains(p.action, "/signout") {
				next = i
				break
			}
		}
		p := c.posts[next]
		c.posts = append(c.posts[:next], c.posts[next+1:]...)
		req, _ := http.NewRequest(http.MethodPost, p.action, strings.NewReader(p.values.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", c.root.Scheme+"://"+c.root.Host)
		c.do(req, p.from)
	}
}

func (c *crawler) visitedAll(t *testing.T, want ...string) {
	t.Helper()
	all := strings.Join(c.visited, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("the crawl never reached %q; it fetched:\n%s", w, all)
		}
	}
}

// Under KEYPORTAL_BASE_PATH every page a signed-in user can reach (keys, a
// key's page, the audit trail, the overview, the create form, the password
// prompt and the secret it shows, edit, rotate, every confirmation, bulk
// actions, exports, sign-in and its errors, error pages) links, redirects,
// posts and loads its files only under the base path, and sets its cookies
// for that path only.
func TestEveryURLStaysUnderTheBasePath(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	env := portaltest.Start(t, portaltest.Options{BasePath: "/keyportal", Clock: clock})
	c := newCrawler(t, env, map[string]string{"email": balenasim.DemoEmail, "password": balenasim.DemoPassword,
		"text": "crawl", "search": "crawl", "code": "000000"})
	// Past the password's freshness, so that making a user key asks for
	// the password again: that page too.
	c.signedIn = func() { clock.Advance(21 * time.Minute) }
	c.run("/keyportal/", "/keyportal/nope", "/keyportal/keys/999999999/edit", "/keyportal/keys?status=bogus")
	for _, b := range c.bad {
		t.Error(b)
	}
	c.visitedAll(t, "GET /keyportal/keys?", "GET /keyportal/keys/new?", "POST /keyportal/keys/new? → 200", "POST /keyportal/keys/new? → 201", "GET /keyportal/keys/{id}?", "GET /keyportal/audit?", "GET /keyportal/audit/export?", "GET /keyportal/overview?", "GET /keyportal/keys/{id}/edit?",
		"GET /keyportal/keys/{id}/rotate?", "POST /keyportal/keys/{id}/rotate?", "GET /keyportal/keys/{id}/revoke?", "GET /keyportal/keys/{id}/expire?",
		"POST /keyportal/keys/bulk?", "GET /keyportal/keys/export?", "POST /keyportal/signin?", "POST /keyportal/signout?", "/keyportal/static/")

	// Two-factor sign-in: the code page and its refusal.
	tfa := newCrawler(t, env, map[string]string{"email": balenasim.Demo2FAEmail, "password": balenasim.DemoPassword, "code": "000000"})
	tfa.run("/keyportal/signin")
	for _, b := range tfa.bad {
		t.Error(b)
	}
	tfa.visitedAll(t, "GET /keyportal/signin/code?", "POST /keyportal/signin/code?")

	// Refused sign-ins: a wrong password, a token that is none.
	wrong := newCrawler(t, env, map[string]string{"email": balenasim.DemoEmail, "password": "wrong-password"})
	wrong.run("/keyportal/signin")
	for _, b := range wrong.bad {
		t.Error(b)
	}
	wrong.visitedAll(t, "POST /keyportal/signin? → 401")
}

// Outside the base path nothing is served: not the pages, the probes, the
// metrics or the static files.
func TestNothingIsServedOutsideTheBasePath(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{BasePath: "/kp"})
	b := newBrowser(t, env)
	for _, path := range []string{"/", "/keys", "/signin", "/healthz", "/readyz", "/metrics", "/static/x/app.css", "/kpkeys", "/kp-other/keys", "/keys/", "/kp-other/"} {
		if p := b.get(path); p.status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, p.status)
		}
	}
	for _, path := range []string{"/kp/healthz", "/kp/readyz"} {
		if p := b.get(path); p.status != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, p.status)
		}
	}
	for _, path := range []string{"/kp", "/kp/", "/kp/signin/"} {
		if p := b.get(path); !strings.HasSuffix(p.url, "/kp/signin") || p.status != http.StatusOK {
			t.Errorf("GET %s ended at %s (%d), want the sign-in page under /kp", path, p.url, p.status)
		}
	}
}

// The page to come back to after sign-in is taken only inside the base path.
func TestSignInNextStaysUnderTheBasePath(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{BasePath: "/kp"})
	b := newBrowser(t, env)
	p := b.get("/kp/keys?kind=user")
	if u := mustURL(p.url); u.Path != "/kp/signin" || u.Query().Get("next") != "/kp/keys?kind=user" {
		t.Fatalf("a signed-out view went to %s, want /kp/signin?next=/kp/keys?kind=user", p.url)
	}
	p = b.submit(p, "#signin-password", map[string]string{"email": balenasim.DemoEmail, "password": balenasim.DemoPassword})
	if u := mustURL(p.url); u.Path != "/kp/keys" || u.Query().Get("kind") != "user" {
		t.Errorf("after sign-in: %s, want /kp/keys?kind=user", p.url)
	}
	for _, next := range []string{"/keys?kind=user", "/kp-other/keys", "//evil.example/kp/keys", "/kp/../keys"} {
		b := newBrowser(t, env)
		p := b.get("/kp/signin?" + url.Values{"next": {next}}.Encode())
		p = b.submit(p, "#signin-password", map[string]string{"email": balenasim.DemoEmail, "password": balenasim.DemoPassword})
		if u := mustURL(p.url); u.Host != mustURL(env.URL).Host || u.Path != "/kp/keys" {
			t.Errorf("next=%s: after sign-in at %s, want /kp/keys", next, p.url)
		}
	}
}

// Each request's log line names the client: behind a trusted proxy the
// address it forwarded, and otherwise the connection's peer, whatever
// X-Forwarded-For a client sends itself.
func TestRequestLogNamesTheClient(t *testing.T) {
	direct := portaltest.Start(t, portaltest.Options{})
	newBrowser(t, direct).get("/healthz", "X-Forwarded-For", "203.0.113.9")
	if !direct.Logs.Contains("path=/healthz") || !direct.Logs.Contains("client=127.0.0.1") || direct.Logs.Contains("203.0.113.9") {
		t.Errorf("without trusted proxies the log names the peer, not X-Forwarded-For:\n%s", direct.Logs)
	}
	proxied := behindProxy(t, nil)
	newBrowser(t, proxied).get("/healthz", "X-Forwarded-For", "203.0.113.9")
	if !proxied.Logs.Contains("client=203.0.113.9") {
		t.Errorf("behind a trusted proxy the log names the forwarded client:\n%s", proxied.Logs)
	}
}
