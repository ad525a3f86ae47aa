package handlers_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

const refreshRoute = "GET /user/v1/refresh-token"

// sessionCookie is the browser's session cookie value, "" when none.
func (b *browser) sessionCookie() string {
	for _, c := range b.http.Jar.Cookies(mustURL(b.env.URL)) {
		if c.Name == "keyportal_session" {
			return c.Value
		}
	}
	return ""
}

// withCookie is a new browser holding only the given session cookie, as
// someone who copied it (or a replica that receives it) would.
func withCookie(t *testing.T, env *portaltest.Env, value string) *browser {
	b := newBrowser(t, env)
	b.http.Jar.SetCookies(mustURL(env.URL), []*http.Cookie{{Name: "keyportal_session", Value: value, Path: "/"}})
	return b
}

// signedInAt reports whether the page is the keys page of a signed-in
// user rather than the sign-in page.
func signedInPage(p page) bool {
	return p.status == http.StatusOK && strings.HasSuffix(strings.SplitN(p.url, "?", 2)[0], "/keys") &&
		p.doc.Find("form[action='/signout']").Length() == 1
}

func longIdle(c *config.Config) { c.IdleTimeout = 30 * 24 * time.Hour }

func TestSessionTokenIsRefreshedOnceADay(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	env := portaltest.Start(t, portaltest.Options{Clock: clock, Config: longIdle})
	b := newBrowser(t, env)
	b.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	env.Sim.ResetCounters()

	clock.Advance(23 * time.Hour)
	if p := b.get("/keys"); !signedInPage(p) || env.Sim.Counters().Get(refreshRoute) != 0 {
		t.Fatalf("at 23 h: %s, %d refreshes", p.url, env.Sim.Counters().Get(refreshRoute))
	}
	clock.Advance(2 * time.Hour)
	b.get("/keys")
	b.get("/keys")
	if n := env.Sim.Counters().Get(refreshRoute); n != 1 {
		t.Errorf("at 25 h: %d refreshes, want 1", n)
	}
	// The first token would have expired at 7 days; the refreshed one
	// carries the session on.
	clock.Advance(6*24*time.Hour + time.Hour)
	if p := b.get("/keys"); !signedInPage(p) {
		t.Errorf("a week after sign-in, having been refreshed: %s", p.url)
	}
	if !env.Logs.Contains("session token refreshed") {
		t.Error("no log line for the refresh")
	}
}

// A balena that issues short-lived tokens (open-balena can) has them
// refreshed half-way through their life, before they run out.
func TestShortLivedTokensAreRefreshedHalfWay(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	env := portaltest.Start(t, portaltest.Options{Clock: clock, Sim: func(o *balenasim.Options) { o.TokenLifetime = 2 * time.Hour }})
	b := newBrowser(t, env)
	b.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	env.Sim.ResetCounters()
	for range 3 {
		clock.Advance(61 * time.Minute)
		if p := b.get("/keys"); !signedInPage(p) {
			t.Fatalf("at %s: %s", clock.Now().Format(time.Kitchen), p.url)
		}
	}
	if n := env.Sim.Counters().Get(refreshRoute); n != 3 {
		t.Errorf("%d refreshes in 3 hours of 2-hour tokens, want 3", n)
	}
}

// A refresh that fails for a passing reason keeps the session on its
// still-valid token.
func TestFailedRefreshKeepsTheSession(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	env := portaltest.Start(t, portaltest.Options{Clock: clock, Config: longIdle})
	b := newBrowser(t, env)
	b.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	clock.Advance(25 * time.Hour)
	env.Sim.SetFaults(balenasim.Faults{ErrorRate: 1, Routes: []string{refreshRoute}})
	if p := b.get("/keys"); !signedInPage(p) {
		t.Errorf("with refresh failing: %s %d", p.url, p.status)
	}
	if !env.Logs.Contains("session token refresh failed") {
		t.Error("no warning for the failed refresh")
	}
}

func TestSessionEndsAtTokenExpiryWithMessage(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	env := portaltest.Start(t, portaltest.Options{Clock: clock, Config: longIdle})
	b := newBrowser(t, env)
	b.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	cookie := b.sessionCookie()
	clock.Advance(7*24*time.Hour + time.Minute)
	p := b.get("/keys")
	if !strings.HasSuffix(p.url, "/signin?reason=expired") || flashText(p) != "Your balena session has expired. Sign in again." {
		t.Errorf("after the token's expiry: %s %q", p.url, flashText(p))
	}
	if p := b.get("/keys", "HX-Request", "true"); p.status != http.StatusUnauthorized {
		t.Errorf("htmx request after expiry: %d", p.status)
	}
	if p := withCookie(t, env, cookie).get("/keys"); signedInPage(p) {
		t.Error("the expired session's cookie still opens the keys page")
	}
}

func TestIdleSessionEndsWithMessage(t *testing.T) {
	clock := portaltest.NewClock(time.Now())
	env := portaltest.Start(t, portaltest.Options{Clock: clock})
	b := newBrowser(t, env)
	b.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	clock.Advance(7 * time.Hour)
	if p := b.get("/keys"); !signedInPage(p) {
		t.Fatalf("after 7 idle hours of 8: %s", p.url)
	}
	clock.Advance(8*time.Hour + 2*time.Minute)
	p := b.get("/keys")
	if !strings.HasSuffix(p.url, "/signin?reason=idle") || flashText(p) != "You were signed out after a period of inactivity." {
		t.Errorf("after 8 idle hours: %s %q", p.url, flashText(p))
	}
}

// A session id known before sign-in (planted, or left from an earlier
// sign-in) is worthless after it: every sign-in gets a new id, and the
// CSRF token changes with it.
func TestSignInGivesANewSessionID(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	b := newBrowser(t, env)
	code := b.signIn(balenasim.Demo2FAEmail, balenasim.DemoPassword)
	pending := b.sessionCookie()
	if pending == "" {
		t.Fatal("no session cookie during the 2FA step")
	}
	csrfBefore := code.doc.Find("input[name=_csrf]").AttrOr("value", "")
	keys := b.submit(code, "form", map[string]string{"code": balenasim.TOTPCode(env.Sim.TOTPSecret(balenasim.Demo2FAEmail), time.Now())})
	if !signedInPage(keys) {
		t.Fatalf("2FA sign-in: %s", keys.url)
	}
	first := b.sessionCookie()
	if first == pending {
		t.Error("the session id from before the code is the signed-in session")
	}
	if csrf := keys.doc.Find("form[action='/signout'] input[name=_csrf]").AttrOr("value", ""); csrf == csrfBefore || csrf == "" {
		t.Errorf("CSRF token kept across sign-in: %q", csrf)
	}
	if p := withCookie(t, env, pending).get("/keys"); signedInPage(p) {
		t.Error("the pre-sign-in cookie opens the keys page")
	}

	// Signing in again (from a sign-in tab left open, say as someone else
	// on a shared browser) retires the first session too.
	again := b.post("/signin", url.Values{"email": {balenasim.DemoEmail}, "password": {balenasim.DemoPassword},
		"_csrf": {keys.doc.Find("form[action='/signout'] input[name=_csrf]").AttrOr("value", "")}})
	if !signedInPage(again) {
		t.Fatalf("second sign-in: %s %d", again.url, again.status)
	}
	if second := b.sessionCookie(); second == first {
		t.Error("a second sign-in kept the session id")
	}
	if p := withCookie(t, env, first).get("/keys"); signedInPage(p) {
		t.Error("the first session's cookie still works after a new sign-in")
	}
}

// Two replicas sharing the data directory: a session started on one works
// on the other, and after sign-out on one its cookie opens nothing on
// either.
func TestSignOutEndsTheSessionOnEveryReplica(t *testing.T) {
	a := portaltest.Start(t, portaltest.Options{})
	bRep := portaltest.Start(t, portaltest.Options{ReplicaOf: a})
	checkReplicas(t, a, bRep)
}

// checkReplicas signs in on a, works on b, signs out on b, and checks that
// the old cookie opens nothing on either.
func checkReplicas(t *testing.T, a, b *portaltest.Env) {
	t.Helper()
	onA := newBrowser(t, a)
	if p := onA.signIn(balenasim.DemoEmail, balenasim.DemoPassword); !signedInPage(p) {
		t.Fatalf("sign-in on the first replica: %s %d", p.url, p.status)
	}
	cookie := onA.sessionCookie()
	onB := withCookie(t, b, cookie)
	keys := onB.get("/keys")
	if !signedInPage(keys) || !strings.Contains(keys.doc.Find(".account").Text(), balenasim.DemoUsername) {
		t.Fatalf("the session on the second replica: %s %d", keys.url, keys.status)
	}
	if p := onB.get("/keys?kind=user"); !signedInPage(p) || p.doc.Find("table.keys tbody tr").Length() == 0 {
		t.Errorf("acting on the second replica: %s %d", p.url, p.status)
	}
	out := onB.submit(keys, "form[action='/signout']", nil)
	if !strings.HasSuffix(out.url, "/signin?reason=signed-out") {
		t.Errorf("sign-out on the second replica: %s", out.url)
	}
	for name, env := range map[string]*portaltest.Env{"first": a, "second": b} {
		if p := withCookie(t, env, cookie).get("/keys"); signedInPage(p) {
			t.Errorf("after sign-out, the old cookie still opens the keys page on the %s replica", name)
		}
	}
}

// Rotating session keys: a cookie made under the old key still works when
// a new key is added in front, and stops working once the old key goes.
func TestSessionKeyRotation(t *testing.T) {
	oldKey, newKey := portaltest.NewSessionKey(), portaltest.NewSessionKey()
	before := portaltest.Start(t, portaltest.Options{SessionKeys: []string{oldKey}})
	b := newBrowser(t, before)
	b.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	cookie := b.sessionCookie()

	rotated := portaltest.Start(t, portaltest.Options{ReplicaOf: before, SessionKeys: []string{newKey, oldKey}})
	if p := withCookie(t, rotated, cookie).get("/keys"); !signedInPage(p) {
		t.Errorf("old cookie with the new key in front: %s %d", p.url, p.status)
	}
	// A sign-in under the rotated keys works where only they are known.
	fresh := newBrowser(t, rotated)
	fresh.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	retired := portaltest.Start(t, portaltest.Options{ReplicaOf: before, SessionKeys: []string{newKey}})
	if p := withCookie(t, retired, fresh.sessionCookie()).get("/keys"); !signedInPage(p) {
		t.Errorf("new cookie with only the new key: %s %d", p.url, p.status)
	}
	p := withCookie(t, retired, cookie).get("/keys")
	if signedInPage(p) || !strings.HasSuffix(p.url, "/signin") || p.status != http.StatusOK {
		t.Errorf("old cookie after the old key is retired: %s %d, want the sign-in page", p.url, p.status)
	}
}

// signInWithToken pastes token into the sign-in form of a new browser.
func signInWithToken(t *testing.T, env *portaltest.Env, token string) (*browser, page) {
	t.Helper()
	b := newBrowser(t, env)
	return b, b.submit(b.get("/signin"), "#signin-token", map[string]string{"token": token})
}

// An API-key session keeps the key on the server only, and says plainly
// what it cannot do; a session token's does not carry that note.
func TestAPIKeySessionSaysWhatItCannotDo(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	name := "portal-capabilities"
	rec, err := env.Sim.CreateKey(balenasim.NewKey{Kind: balenasim.KindUser, Owner: balenasim.DemoEmail, Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	b, p := signInWithToken(t, env, rec.Secret)
	if !signedInPage(p) {
		t.Fatalf("API-key sign-in: %s %d %q", p.url, p.status, flashText(p))
	}
	note := strings.TrimSpace(p.doc.Find("header [role=note]").Text())
	if note != "Signed in with an API key: you can see keys but not create user keys, or change, expire or revoke keys. Sign in with your password or a session token for that." {
		t.Errorf("header note = %q", note)
	}
	files, _ := filepath.Glob(filepath.Join(env.DataDir(), "sessions", "session_*"))
	if len(files) != 1 {
		t.Fatalf("session files: %v", files)
	}
	data, _ := os.ReadFile(files[0])
	if strings.Contains(string(data), rec.Secret) || strings.Contains(b.sessionCookie(), rec.Secret) {
		t.Error("the API key is readable in the session file or the cookie")
	}

	token, _ := env.Sim.IssueToken(balenasim.DemoEmail, time.Now())
	_, p = signInWithToken(t, env, token)
	if !signedInPage(p) || p.doc.Find("header [role=note]").Length() != 0 || p.doc.Find(".account .badge").Length() != 0 {
		t.Errorf("session-token sign-in: %s, note %q", p.url, p.doc.Find("header [role=note]").Text())
	}
}

// A browser without cookies and one with a garbage cookie are simply
// signed out.
func TestGarbageSessionCookieIsNoSession(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, env: env, http: &http.Client{Jar: jar}}
	for _, v := range []string{"garbage", strings.Repeat("A", 3000)} {
		jar.SetCookies(mustURL(env.URL), []*http.Cookie{{Name: "keyportal_session", Value: v}})
		if p := b.get("/keys"); !strings.HasSuffix(p.url, "/signin") || p.status != http.StatusOK {
			t.Errorf("cookie %.10q…: %s %d", v, p.url, p.status)
		}
	}
}

// The capabilities an API-key session claims are what balena (here the
// stand-in, in both its profiles) really allows: no user keys, no changes;
// a session token may do both.
func TestAPIKeyCapabilitiesMatchWhatBalenaAllows(t *testing.T) {
	for _, profile := range []balenasim.Profile{balenasim.ProfileBalenaCloud, balenasim.ProfileOpenBalena} {
		env := portaltest.Start(t, portaltest.Options{Profile: profile})
		api, err := apiclient.New(apiclient.Options{BaseURL: env.SimURL})
		if err != nil {
			t.Fatal(err)
		}
		name, other := "capability-probe", "capability-target"
		key, _ := env.Sim.CreateKey(balenasim.NewKey{Kind: balenasim.KindUser, Owner: balenasim.DemoEmail, Name: &name})
		target, _ := env.Sim.CreateKey(balenasim.NewKey{Kind: balenasim.KindUser, Owner: balenasim.DemoEmail, Name: &other})
		token, _ := env.Sim.IssueToken(balenasim.DemoEmail, time.Now())
		ctx := context.Background()
		withKey, withToken := api.As(key.Secret), api.As(token)

		if _, err := withKey.CreateUserKey(ctx, apiclient.NewKey{Name: "by an API key"}); apiclient.ErrorCode(err) != apiclient.CodeUnauthorized {
			t.Errorf("%s: an API key creating a user key: %v, want unauthorized", profile, err)
		}
		if err := withKey.DeleteKey(ctx, target.ID); apiclient.ErrorCode(err) != apiclient.CodeUnauthorized {
			t.Errorf("%s: an API key revoking a key: %v, want unauthorized", profile, err)
		}
		if _, err := withToken.CreateUserKey(ctx, apiclient.NewKey{Name: "by a session"}); err != nil {
			t.Errorf("%s: a fresh session creating a user key: %v", profile, err)
		}
		if err := withToken.DeleteKey(ctx, target.ID); err != nil {
			t.Errorf("%s: a session revoking its own key: %v", profile, err)
		}

		_, p := signInWithToken(t, env, key.Secret)
		if note := p.doc.Find("header [role=note]").Text(); !strings.Contains(note, "not create user keys, or change, expire or revoke keys") {
			t.Errorf("%s: API-key session note = %q", profile, note)
		}
	}
}
