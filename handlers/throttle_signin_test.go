package handlers_test

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
	"github.com/keyportal/keyportal/internal/config"
)

const freshPasswordRoute = "POST /user/v1/refresh-token"

// behindProxy is a portal that trusts loopback's X-Forwarded-For, so that
// one test can sign in from several client addresses.
func behindProxy(t *testing.T, change func(*config.Config)) *portaltest.Env {
	_, loopback, _ := net.ParseCIDR("127.0.0.1/32")
	// A still clock: a Retry-After is the window's whole rest, however long
	// the requests before it took on a loaded machine.
	return portaltest.Start(t, portaltest.Options{Clock: portaltest.NewClock(time.Now()), Config: func(c *config.Config) {
		c.TrustedProxies = []*net.IPNet{loopback}
		if change != nil {
			change(c)
		}
	}})
}

// signInFrom posts the password form as the client at ip, in a browser of
// its own.
func signInFrom(t *testing.T, env *portaltest.Env, ip, name, password string) page {
	t.Helper()
	b := newBrowser(t, env)
	token := b.get("/signin").doc.Find("#signin-password input[name=_csrf]").AttrOr("value", "")
	return b.post("/signin", url.Values{"email": {name}, "password": {password}, "_csrf": {token}}, "X-Forwarded-For", ip)
}

// The password asked for before a user key is created or a key rotated is
// a sign-in attempt: wrong ones count against the account's limit, and
// once it is used up the form gets a 429 with Retry-After, before balena
// is asked, even for the right password. (Before, 25 wrong passwords in a
// row were all sent to balena.)
func TestFreshPasswordCountsAgainstTheSignInLimit(t *testing.T) {
	for _, action := range []string{"create", "rotate", "rotate with htmx"} {
		t.Run(action, func(t *testing.T) {
			env := portaltest.Start(t, portaltest.Options{})
			stale, _ := env.Sim.IssueToken(balenasim.DemoEmail, time.Now().Add(-time.Hour))
			b, _ := signInWithToken(t, env, stale)
			var prompt page
			if action == "create" {
				prompt = b.submit(b.get("/keys/new?kind=user"), "form.keyform", map[string]string{"name": "ci", "expiry": "never"})
			} else {
				old := someKey(t, env, b, "user")
				prompt = b.submit(b.get("/keys/"+strconv.FormatInt(old.ID, 10)+"/rotate"), "form.keyform", map[string]string{"grace": "keep", "expiry": "never"})
			}
			if prompt.doc.Find("#k-password").Length() != 1 {
				t.Fatalf("no password prompt: %d", prompt.status)
			}
			env.Sim.ResetCounters()
			var header []string
			if action == "rotate with htmx" {
				header = []string{"HX-Request", "true"}
			}
			confirm := func(password string) page {
				form := prompt.doc.Find("form.keyform")
				v := url.Values{}
				form.Find("input[type=hidden]").Each(func(_ int, s *goquery.Selection) { v.Add(s.AttrOr("name", ""), s.AttrOr("value", "")) })
				v.Set("password", password)
				return b.post(form.AttrOr("action", ""), v, header...)
			}
			for i := range 5 {
				if p := confirm("guess"); p.status != http.StatusUnauthorized {
					t.Fatalf("wrong password %d: %d", i+1, p.status)
				}
			}
			for _, password := range []string{"guess", balenasim.DemoPassword} {
				p := confirm(password)
				// Beside the password field, the rest of the form as typed.
				text := strings.TrimSpace(p.doc.Find("main").Text())
				if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "180" ||
					!strings.Contains(text, "Too many sign-in attempts for this account. Try again in 3 minutes.") {
					t.Errorf("6th password: %d Retry-After=%q %q", p.status, p.header.Get("Retry-After"), text)
				}
				if p.doc.Find("#k-password").Length() != 1 {
					t.Errorf("6th password: the form is gone")
				}
			}
			if n := env.Sim.Counters().Get(freshPasswordRoute); n != 5 {
				t.Errorf("balena was asked %d passwords, want 5", n)
			}
		})
	}
}

// balena signs in by email or username: once the portal has seen that
// bob@example.com is "bob", failures under one name count for the other.
func TestEmailAndUsernameShareTheAccountLimit(t *testing.T) {
	env := behindProxy(t, func(c *config.Config) { c.SignInLimitAccount = config.Limit{N: 3, Per: 15 * time.Minute} })
	if p := signInFrom(t, env, "198.51.100.7", balenasim.DemoOtherEmail, balenasim.DemoPassword); !signedInPage(p) {
		t.Fatalf("bob's own sign-in: %s %d", p.url, p.status)
	}
	for range 3 {
		if p := signInFrom(t, env, "203.0.113.1", balenasim.DemoOtherEmail, "guess"); p.status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", p.status)
		}
	}
	env.Sim.ResetCounters()
	wantRefused(t, "the username after the email's limit", signInFrom(t, env, "203.0.113.1", "bob", balenasim.DemoPassword), "300",
		"Too many sign-in attempts for this account. Try again in 5 minutes.")
	wantRefused(t, "the username in capitals", signInFrom(t, env, "203.0.113.1", " BOB ", "guess"), "300",
		"Too many sign-in attempts for this account. Try again in 5 minutes.")
	if n := env.Sim.Counters().Get(loginRoute); n != 0 {
		t.Errorf("balena got %d logins", n)
	}
	// And the other way round, for admin, known by username.
	if p := signInFrom(t, env, "198.51.100.8", balenasim.DemoUsername, balenasim.DemoPassword); !signedInPage(p) {
		t.Fatalf("admin's own sign-in: %s %d", p.url, p.status)
	}
	for range 3 {
		signInFrom(t, env, "203.0.113.2", balenasim.DemoUsername, "guess")
	}
	wantRefused(t, "the email after the username's limit", signInFrom(t, env, "203.0.113.2", balenasim.DemoEmail, "guess"), "300",
		"Too many sign-in attempts for this account. Try again in 5 minutes.")
}

// Only failures count: an admin signing in again and again is never
// stopped, and someone guessing at an account from one address cannot
// lock its owner out: a right password from an address that has not
// failed gets through even when the account's limit is used up.
func TestOnlyFailuresCountAndOwnersAreNotLockedOut(t *testing.T) {
	env := behindProxy(t, nil) // the defaults: 5 per 15 minutes per account
	for i := range 8 {
		if p := signInFrom(t, env, "198.51.100.1", balenasim.DemoEmail, balenasim.DemoPassword); !signedInPage(p) {
			t.Fatalf("sign-in %d of the same admin: %d %q", i+1, p.status, flashText(p))
		}
	}
	for range 5 {
		if p := signInFrom(t, env, "203.0.113.66", balenasim.DemoEmail, "guess"); p.status != http.StatusUnauthorized {
			t.Fatalf("guess: %d %q", p.status, flashText(p))
		}
	}
	env.Sim.ResetCounters()
	wantRefused(t, "the guesser's 6th try", signInFrom(t, env, "203.0.113.66", balenasim.DemoEmail, "guess"), "180",
		"Too many sign-in attempts for this account. Try again in 3 minutes.")
	wantRefused(t, "the guesser, even with the right password", signInFrom(t, env, "203.0.113.66", balenasim.DemoEmail, balenasim.DemoPassword), "180",
		"Too many sign-in attempts for this account. Try again in 3 minutes.")
	if n := env.Sim.Counters().Get(loginRoute); n != 0 {
		t.Errorf("balena got %d of the guesser's logins", n)
	}
	if p := signInFrom(t, env, "198.51.100.1", balenasim.DemoEmail, balenasim.DemoPassword); !signedInPage(p) {
		t.Errorf("the owner, from an address that has not failed: %d %q", p.status, flashText(p))
	}
	// An address that gets it wrong once is no longer above suspicion.
	if p := signInFrom(t, env, "198.51.100.2", balenasim.DemoEmail, "typo"); p.status != http.StatusUnauthorized {
		t.Errorf("a typo from a fresh address: %d %q", p.status, flashText(p))
	}
	wantRefused(t, "after the typo", signInFrom(t, env, "198.51.100.2", balenasim.DemoEmail, balenasim.DemoPassword), "180",
		"Too many sign-in attempts for this account. Try again in 3 minutes.")
}

// Guesses sent all at once cannot slip past the limit: each takes its
// place before balena is asked.
func TestParallelGuessesStopAtTheLimit(t *testing.T) {
	env := portaltest.Start(t, portaltest.Options{})
	b := newBrowser(t, env)
	token := b.get("/signin").doc.Find("#signin-password input[name=_csrf]").AttrOr("value", "")
	env.Sim.ResetCounters()
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = b.post("/signin", url.Values{"email": {balenasim.DemoEmail}, "password": {"guess"}, "_csrf": {token}}).status
		})
	}
	wg.Wait()
	refused := 0
	for _, s := range statuses {
		if s == http.StatusTooManyRequests {
			refused++
		}
	}
	if n := env.Sim.Counters().Get(loginRoute); n != 5 || refused != 15 {
		t.Errorf("20 parallel guesses: balena got %d, %d refused; want 5 and 15 (statuses %v)", n, refused, statuses)
	}
}
