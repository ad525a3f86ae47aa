package apiclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
)

const whoamiRoute = "GET /actor/v1/whoami"

// TestReadsAreRetried: broken connections and cut-off bodies cost a GET a
// retry, not a failure.
func TestReadsAreRetried(t *testing.T) {
	for _, f := range []balenasim.Faults{
		{ResetRate: 0.25, Seed: 1},
		{TruncateRate: 0.25, Seed: 2},
	} {
		e := newEnv(t, balenasim.Options{})
		s := e.session(t, balenasim.DemoEmail)
		sent := e.countAttempts()
		f.Routes = []string{whoamiRoute}
		e.sim.SetFaults(f)
		for i := range 20 {
			if _, err := s.WhoAmI(ctx(t)); err != nil {
				t.Fatalf("%+v, call %d: %v", f, i, err)
			}
		}
		if n := len(sent.list()); n == 20 {
			t.Errorf("%+v: no fault was injected", f)
		}
	}
}

func TestFailuresAfterRetries(t *testing.T) {
	tests := []struct {
		name     string
		faults   balenasim.Faults
		call     func(s *Session) error
		code     Code
		requests int // 0: between 1 and maxAttempts
	}{
		{"GET, resets", balenasim.Faults{ResetRate: 1}, func(s *Session) error { _, err := s.WhoAmI(ctx(t)); return err }, CodeUpstream, maxAttempts},
		{"GET, 5xx", balenasim.Faults{ErrorRate: 1}, func(s *Session) error { _, err := s.WhoAmI(ctx(t)); return err }, CodeUpstream, 0},
		{"GET, garbage is not retried", balenasim.Faults{GarbageRate: 1}, func(s *Session) error { _, err := s.WhoAmI(ctx(t)); return err }, CodeUpstream, 1},
		{"POST, reset", balenasim.Faults{ResetRate: 1}, func(s *Session) error {
			_, err := s.CreateUserKey(ctx(t), NewKey{Name: "x"})
			return err
		}, CodeUpstream, 1},
		{"POST, 503", balenasim.Faults{ErrorRate: 1}, func(s *Session) error {
			_, err := s.CreateDeviceKey(ctx(t), 1, NewKey{})
			return err
		}, CodeUpstream, 1},
		{"PATCH, reset", balenasim.Faults{ResetRate: 1}, func(s *Session) error {
			return s.UpdateKey(ctx(t), 1, KeyUpdate{Name: ptr("x")})
		}, CodeUpstream, 1},
		{"DELETE, a 2xx cut short is success", balenasim.Faults{TruncateRate: 1}, func(s *Session) error { return s.DeleteKey(ctx(t), 1) }, "", 1},
		{"PATCH, a garbled 2xx is success", balenasim.Faults{GarbageRate: 1}, func(s *Session) error { return s.UpdateKey(ctx(t), 1, KeyUpdate{Name: ptr("x")}) }, "", 1},
		{"DELETE, 429", balenasim.Faults{RateLimitRate: 1}, func(s *Session) error { return s.DeleteKey(ctx(t), 1) }, CodeRateLimited, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, balenasim.Options{})
			s := e.session(t, balenasim.DemoEmail)
			sent := e.countAttempts()
			e.sim.SetFaults(tt.faults)
			err := tt.call(s)
			if ErrorCode(err) != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
			statuses := sent.list()
			if n := len(statuses); (tt.requests != 0 && n != tt.requests) || n < 1 || n > maxAttempts {
				t.Fatalf("%d requests, want %d", n, tt.requests)
			}
			// Only the statuses worth a retry were retried.
			for _, status := range statuses[:len(statuses)-1] {
				if status != 0 && status != 502 && status != 503 {
					t.Errorf("retried after %d", status)
				}
			}
		})
	}
	if maxAttempts < 2 {
		t.Fatal("reads are not retried at all")
	}
}

func TestRateLimited(t *testing.T) {
	t.Run("Retry-After beyond the deadline", func(t *testing.T) {
		e := newEnv(t, balenasim.Options{})
		e.c.timeout = 300 * time.Millisecond
		s := e.session(t, balenasim.DemoEmail)
		e.sim.SetFaults(balenasim.Faults{RateLimitRate: 1, RetryAfter: 5 * time.Second})
		start := time.Now()
		_, err := s.WhoAmI(ctx(t))
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.Code != CodeRateLimited || apiErr.RetryAfter != 5*time.Second {
			t.Fatalf("got %v, want rate limited for 5s", err)
		}
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("waited %v for a retry that could not happen in time", d)
		}
		if n := e.sim.Counters().Total(); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
	t.Run("Retry-After within the deadline", func(t *testing.T) {
		e := newEnv(t, balenasim.Options{})
		s := e.session(t, balenasim.DemoEmail)
		// Some requests are refused; the refused ones are retried
		// after the second balena asked for.
		e.sim.SetFaults(balenasim.Faults{RateLimitRate: 0.3, RetryAfter: time.Second, Seed: 6, Routes: []string{whoamiRoute}})
		start := time.Now()
		for e.sim.Counters().GetStatus(whoamiRoute, 429) == 0 {
			if _, err := s.WhoAmI(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("retried after %v, before Retry-After", d)
		}
	})
}

func TestTimeoutAndCancel(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	e.c.timeout = 50 * time.Millisecond
	s := e.session(t, balenasim.DemoEmail)
	e.sim.SetFaults(balenasim.Faults{Latency: 2 * time.Second})

	start := time.Now()
	if _, err := s.ListKeys(ctx(t), KeyQuery{}); ErrorCode(err) != CodeTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow balena: %v, want timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("timed out after %v", d)
	}

	e.c.timeout = time.Minute
	c, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := s.WhoAmI(c); ErrorCode(err) != CodeTimeout || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want timeout wrapping context.Canceled", err)
	}
}

// TestConnectionsAreReused: one tuned Transport keeps connections open, so
// a series of pages opens no more connections than a page needs at once.
func TestConnectionsAreReused(t *testing.T) {
	var conns atomic.Int32
	e := newEnv(t, balenasim.Options{}, func(srv *http.Server) {
		srv.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
	})
	s := e.session(t, balenasim.DemoEmail)
	tooLong := strings.Repeat("d", 151)
	for range 20 {
		if _, err := s.ListKeys(ctx(t), KeyQuery{Status: StatusExpired}); err != nil {
			t.Fatal(err)
		}
		// An error's body is read to the end as well.
		if err := s.UpdateKey(ctx(t), 1, KeyUpdate{Description: &tooLong}); ErrorCode(err) != CodeInvalid {
			t.Fatal(err)
		}
	}
	// A page needs two at once; a connection goes back to the pool a moment
	// after its body is read, so an extra dial or two can happen.
	if n := conns.Load(); n > 4 {
		t.Errorf("%d connections for 60 requests", n)
	}
}

func TestUserAgent(t *testing.T) {
	var mu sync.Mutex
	var agents []string
	e := newEnv(t, balenasim.Options{}, func(srv *http.Server) {
		sim := srv.Handler
		srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			agents = append(agents, r.UserAgent())
			mu.Unlock()
			sim.ServeHTTP(w, r)
		})
	})
	for _, ua := range []string{"", "custom/1"} {
		c, err := New(Options{BaseURL: e.srv.URL + "/", UserAgent: ua})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Ping(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"keyportal/" + Version, "custom/1"}
	if len(agents) != 2 || agents[0] != want[0] || agents[1] != want[1] {
		t.Errorf("User-Agents %v, want %v", agents, want)
	}
}

func TestErrorsNeverContainTheToken(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	s := e.session(t, balenasim.DemoEmail)
	// pine echoes a malformed URL back, query string and all.
	_, err := e.c.do(ctx(t), request{op: "probe", method: http.MethodGet, path: "/v7/api_key",
		query: "$filter=((&apikey=" + s.token, token: s.token})
	if ErrorCode(err) != CodeInvalid || !strings.Contains(err.Error(), "Malformed url") {
		t.Fatalf("got %v, want balena's malformed-url message", err)
	}
	if strings.Contains(err.Error(), s.token) {
		t.Errorf("token in error: %v", err)
	}
}

func TestBodySizeIsCapped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"d":[`))
		chunk := []byte(strings.Repeat(`{"id":1},`, 1000))
		for written := 0; written <= maxBody; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.As("t").GetKey(ctx(t), 1)
	if ErrorCode(err) != CodeUpstream || !strings.Contains(err.Error(), "too large") {
		t.Errorf("got %v, want upstream: response too large", err)
	}
}

func TestNewValidatesOptions(t *testing.T) {
	for _, o := range []Options{
		{},
		{BaseURL: "api.balena-cloud.com"},
		{BaseURL: "ftp://x"},
		{BaseURL: "https://x?y=1"},
		{BaseURL: "https://user:pw@x"},
		{BaseURL: "https://x", Timeout: -1},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	c, err := New(Options{BaseURL: "https://api.balena-cloud.com/"})
	if err != nil || c.base != "https://api.balena-cloud.com" || c.timeout != DefaultTimeout {
		t.Errorf("New: %+v, %v", c, err)
	}
}

// TestSecretsAreNeverRead: open-balena returns the key itself in listings
// unless told otherwise; no answer the client asks for may carry one.
func TestSecretsAreNeverRead(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var mu sync.Mutex
			var bodies strings.Builder
			e := newModeEnv(t, m, balenasim.Options{}, func(srv *http.Server) {
				sim := srv.Handler
				srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					rec := httptest.NewRecorder()
					sim.ServeHTTP(rec, r)
					mu.Lock()
					bodies.Write(rec.Body.Bytes())
					mu.Unlock()
					for k, v := range rec.Header() {
						w.Header()[k] = v
					}
					w.WriteHeader(rec.Code)
					w.Write(rec.Body.Bytes())
				})
			})
			s := e.session(t, balenasim.DemoEmail)
			page, err := s.ListKeys(ctx(t), KeyQuery{})
			if err != nil || len(page.Keys) == 0 {
				t.Fatal(page, err)
			}
			if _, err := s.GetKey(ctx(t), page.Keys[0].ID); err != nil {
				t.Fatal(err)
			}
			for _, k := range e.sim.Keys() {
				if strings.Contains(bodies.String(), k.Secret) {
					t.Fatalf("the secret of key %d was read", k.ID)
				}
			}
		})
	}
}

// parallel runs its functions at once, and the first failure cancels the
// others and is what it returns.
func TestParallelCancelsTheOthersOnFirstError(t *testing.T) {
	boom := errors.New("boom")
	started := make(chan struct{})
	var other error
	err := parallel(ctx(t),
		func(context.Context) error {
			<-started // runs only while the other is running too
			return boom
		},
		func(c context.Context) error {
			close(started)
			select {
			case <-c.Done():
				other = c.Err()
			case <-time.After(5 * time.Second): // bounds a failure only
				other = errors.New("not cancelled")
			}
			return other
		})
	if err != boom {
		t.Errorf("parallel = %v, want the first error", err)
	}
	if !errors.Is(other, context.Canceled) {
		t.Errorf("the other function ended with %v, want context.Canceled", other)
	}
	if err := parallel(ctx(t), func(context.Context) error { return nil }, func(context.Context) error { return nil }); err != nil {
		t.Errorf("parallel without failures = %v", err)
	}
}
