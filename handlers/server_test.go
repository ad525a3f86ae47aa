package handlers_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

// browser is a cookie-keeping HTTP client that reads pages as a DOM.
type browser struct {
	t    *testing.T
	env  *portaltest.Env
	http *http.Client
}

func newBrowser(t *testing.T, env *portaltest.Env) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, env: env, http: &http.Client{Jar: jar}}
}

type page struct {
	status int
	header http.Header
	url    string
	body   string
	doc    *goquery.Document
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	res, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(string(body)))
	return page{res.StatusCode, res.Header, res.Request.URL.String(), string(body), doc}
}

func (b *browser) get(path string, header ...string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.env.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values, header ...string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.env.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

// submit fills the form matched by selector on p and posts it, as a
// browser would: hidden fields (the CSRF token) included.
func (b *browser) submit(p page, selector string, fields map[string]string) page {
	b.t.Helper()
	form := p.doc.Find(selector)
	if form.Length() == 0 {
		b.t.Fatalf("no form %s on %s", selector, p.url)
	}
	v := url.Values{}
	form.Find("input[type=hidden], input:not([type]), input[type=text], input[type=radio]:checked, textarea, select").Each(func(_ int, s *goquery.Selection) {
		switch {
		case goquery.NodeName(s) == "textarea":
			v.Add(s.AttrOr("name", ""), s.Text())
		case goquery.NodeName(s) == "select":
			// An option without a value attribute submits its text.
			o := s.Find("option[selected]")
			v.Add(s.AttrOr("name", ""), o.AttrOr("value", o.Text()))
		default:
			v.Add(s.AttrOr("name", ""), s.AttrOr("value", ""))
		}
	})
	for k, val := range fields {
		v.Set(k, val)
	}
	action, _ := form.Attr("action")
	if strings.EqualFold(form.AttrOr("method", "get"), "get") {
		return b.get(action + "?" + v.Encode())
	}
	return b.post(action, v)
}

func (b *browser) signIn(email, password string) page {
	b.t.Helper()
	return b.submit(b.get("/signin"), "#signin-password", map[string]string{"email": email, "password": password})
}

func TestHealthProbesNeedNoSignIn(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	b := newBrowser(t, env)
	if p := b.get("/healthz"); p.status != 200 {
		t.Errorf("/healthz = %d", p.status)
	}
	if p := b.get("/readyz"); p.status != 200 {
		t.Errorf("/readyz with balena up = %d", p.status)
	}
	down := portaltest.Start(t, portaltest.Options{Config: func(c *config.Config) { c.BalenaAPIURL = "http://127.0.0.1:1" }})
	if p := newBrowser(t, down).get("/readyz"); p.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with balena down = %d, want 503", p.status)
	}
}

func TestKeysNeedSignIn(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	p := newBrowser(t, env).get("/keys")
	if !strings.HasSuffix(p.url, "/signin") || p.status != 200 {
		t.Errorf("GET /keys signed out ended at %s (%d), want the sign-in page", p.url, p.status)
	}
	if p.doc.Find("label[for=email]").Text() != "Email" || p.doc.Find("label[for=password]").Text() != "Password" ||
		p.doc.Find("label[for=token]").Text() != "Token" {
		t.Errorf("sign-in labels missing:\n%s", p.body)
	}
}

func TestWrongPasswordIs401WithMessage(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	b := newBrowser(t, env)
	p := b.signIn(balenasim.DemoEmail, "not-the-password")
	if p.status != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", p.status)
	}
	if !strings.Contains(p.doc.Find(".flash").Text(), "Wrong email or password") {
		t.Errorf("no message:\n%s", p.body)
	}
	if v, _ := p.doc.Find("#email").Attr("value"); v != balenasim.DemoEmail {
		t.Errorf("email not kept: %q", v)
	}
}

func TestSignInShowsKeysAndSignOutEndsSession(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	b := newBrowser(t, env)
	p := b.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	if p.status != 200 || !strings.HasSuffix(p.url, "/keys") {
		t.Fatalf("after sign-in: %s %d\n%s", p.url, p.status, p.body)
	}
	var headers []string
	p.doc.Find("table.keys thead th:not(.select)").Each(func(_ int, s *goquery.Selection) {
		label := s.Clone()
		label.Find(".sort-icon").Remove()
		headers = append(headers, strings.Join(strings.Fields(label.Text()), " "))
	})
	if strings.Join(headers, ",") != "Name,Kind,Owner,Description,Created,Expires,Last seen,ID,Actions" {
		t.Errorf("headers = %v", headers)
	}
	kinds := map[string]int{}
	p.doc.Find("table.keys tbody tr td.kind-cell").Each(func(_ int, s *goquery.Selection) {
		kinds[strings.TrimSpace(s.Text())]++
	})
	for _, k := range []string{"user", "provisioning", "device"} {
		if kinds[k] == 0 {
			t.Errorf("no %s key in the table (kinds %v)", k, kinds)
		}
	}
	if got := p.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}

	out := b.submit(p, "form[action='/signout']", nil)
	if !strings.Contains(out.url, "/signin") || !strings.Contains(out.doc.Find(".flash").Text(), "signed out") {
		t.Errorf("after sign-out: %s\n%s", out.url, out.body)
	}
	if again := b.get("/keys"); !strings.Contains(again.url, "/signin") {
		t.Errorf("/keys after sign-out reached %s", again.url)
	}
}

// A failed request is one log line, at warning level for a 4xx, with its
// status and the reason.
func TestAFailedRequestIsLoggedOnce(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	b := newBrowser(t, env)
	p := b.post("/signout", url.Values{})
	id := p.header.Get("X-Request-Id")
	if p.status != http.StatusForbidden || id == "" {
		t.Fatalf("POST /signout without a token: %d, request id %q", p.status, id)
	}
	var lines []string
	for l := range strings.Lines(env.Logs.String()) {
		if strings.Contains(l, id) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "status=403") || !strings.Contains(lines[0], "error=") {
		t.Errorf("log lines for request %s:\n%s", id, strings.Join(lines, ""))
	}
}
