package apiclient

import (
	"errors"
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient/balenasim"
)

func TestLogin(t *testing.T) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			e := newEnv(t, balenasim.Options{Profile: p})
			tests := []struct {
				name, user, password string
				code                 Code
				twoFactor            bool
			}{
				{"email", balenasim.DemoEmail, balenasim.DemoPassword, "", false},
				{"username", balenasim.DemoUsername, balenasim.DemoPassword, "", false},
				{"2FA user", balenasim.Demo2FAEmail, balenasim.DemoPassword, "", true},
				{"wrong password", balenasim.DemoEmail, "nope", CodeUnauthorized, false},
				{"unknown user", "who@example.com", balenasim.DemoPassword, CodeUnauthorized, false},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					tok, err := e.c.Login(ctx(t), tt.user, tt.password)
					if ErrorCode(err) != tt.code {
						t.Fatalf("Login: %v, want code %q", err, tt.code)
					}
					if tt.code != "" {
						return
					}
					cl, ok := ParseClaims(tok)
					if !ok || cl.TwoFactorRequired != tt.twoFactor || !cl.AuthTime.Equal(e.now) || !cl.Expires.After(e.now) {
						t.Errorf("claims %+v, %v", cl, ok)
					}
				})
			}
		})
	}
}

func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t, balenasim.Options{LoginMaxAttempts: 2})
	for range 2 {
		if _, err := e.c.Login(ctx(t), balenasim.DemoEmail, "wrong"); ErrorCode(err) != CodeUnauthorized {
			t.Fatalf("wrong password: %v", err)
		}
	}
	_, err := e.c.Login(ctx(t), balenasim.DemoEmail, balenasim.DemoPassword)
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Code != CodeRateLimited || apiErr.RetryAfter < time.Minute {
		t.Fatalf("after too many tries: %v, want rate limited with Retry-After", err)
	}
	if n := e.sim.Counters().Get("POST /login_"); n != 3 {
		t.Errorf("%d login requests; a POST must not be retried", n)
	}
}

func TestTwoFactorLogin(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	partial, err := e.c.Login(ctx(t), balenasim.Demo2FAEmail, balenasim.DemoPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.As(partial).WhoAmI(ctx(t)); ErrorCode(err) != CodeUnauthorized {
		t.Errorf("whoami with a partial token: %v, want unauthorized", err)
	}
	if _, err := e.c.VerifyTOTP(ctx(t), partial, "000000"); ErrorCode(err) != CodeTwoFactor {
		t.Errorf("wrong code: %v, want two_factor", err)
	}
	if _, err := e.c.VerifyTOTP(ctx(t), "garbage", "000000"); ErrorCode(err) != CodeUnauthorized {
		t.Errorf("no partial token: %v, want unauthorized", err)
	}
	code := balenasim.TOTPCode(e.sim.TOTPSecret(balenasim.Demo2FAEmail), e.now)
	full, err := e.c.VerifyTOTP(ctx(t), partial, code)
	if err != nil {
		t.Fatal(err)
	}
	if cl, ok := ParseClaims(full); !ok || cl.TwoFactorRequired || cl.AuthTime.IsZero() || e.now.Sub(cl.AuthTime) >= balenasim.FreshAuthWindow {
		t.Errorf("full token claims %+v", cl)
	}
	id, err := e.c.As(full).WhoAmI(ctx(t))
	if err != nil || id.Email != balenasim.Demo2FAEmail {
		t.Errorf("whoami: %+v, %v", id, err)
	}
}

func TestWhoAmI(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	s := e.session(t, balenasim.DemoEmail)
	prov, err := s.CreateProvisioningKey(ctx(t), e.fleetID(t, "acme/lab"), NewKey{})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := s.CreateDeviceKey(ctx(t), e.device(t, "bench-1").DeviceID, NewKey{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		s    *Session
		want Identity
	}{
		{"session", s, Identity{ActorType: "user", Username: "admin", Email: balenasim.DemoEmail}},
		{"fleet key", e.c.As(prov), Identity{ActorType: "application", Slug: "acme/lab"}},
		{"device key", e.c.As(dev), Identity{ActorType: "device", UUID: e.device(t, "bench-1").DeviceUUID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := tt.s.WhoAmI(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if id.ActorID == 0 || id.ActorTypeID == 0 {
				t.Errorf("ids missing: %+v", id)
			}
			id.ActorID, id.ActorTypeID = 0, 0
			if id != tt.want {
				t.Errorf("WhoAmI = %+v, want %+v", id, tt.want)
			}
		})
	}
	if _, err := e.c.As("").WhoAmI(ctx(t)); ErrorCode(err) != CodeUnauthorized {
		t.Errorf("no token: %v", err)
	}
}

func TestWithIdentitySkipsWhoAmI(t *testing.T) {
	e := newEnv(t, balenasim.Options{Profile: balenasim.ProfileOpenBalena})
	s := e.session(t, balenasim.DemoEmail)
	id, err := s.WhoAmI(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListKeys(ctx(t), KeyQuery{}); err != nil { // learns the profile
		t.Fatal(err)
	}
	e.sim.ResetCounters()
	if _, err := s.WithIdentity(id).ListKeys(ctx(t), KeyQuery{Kinds: []KeyKind{KindUser}}); err != nil {
		t.Fatal(err)
	}
	if n := e.sim.Counters().Get("GET /actor/v1/whoami"); n != 0 {
		t.Errorf("%d whoami calls with a known identity", n)
	}
}

func TestRefreshToken(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	old := e.now.Add(-time.Hour)
	tok, err := e.sim.IssueToken(balenasim.DemoEmail, old)
	if err != nil {
		t.Fatal(err)
	}
	s := e.c.As(tok)
	tests := []struct {
		name     string
		password string
		authTime time.Time
		code     Code
	}{
		{"plain refresh keeps the sign-in time", "", old, ""},
		{"with the password renews it", balenasim.DemoPassword, e.now, ""},
		{"wrong password", "wrong", time.Time{}, CodeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.RefreshToken(ctx(t), tt.password)
			if ErrorCode(err) != tt.code {
				t.Fatalf("RefreshToken: %v, want %q", err, tt.code)
			}
			if tt.code != "" {
				return
			}
			if cl, _ := ParseClaims(got); !cl.AuthTime.Equal(tt.authTime) {
				t.Errorf("authTime %v, want %v", cl.AuthTime, tt.authTime)
			}
		})
	}
	key, err := e.session(t, balenasim.DemoEmail).CreateUserKey(ctx(t), NewKey{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.As(key).RefreshToken(ctx(t), ""); ErrorCode(err) != CodeUnauthorized {
		t.Errorf("refresh of an API key: %v, want unauthorized", err)
	}
}

func TestPing(t *testing.T) {
	e := newEnv(t, balenasim.Options{})
	if err := e.c.Ping(ctx(t)); err != nil {
		t.Error(err)
	}
	e.srv.Close()
	if err := e.c.Ping(ctx(t)); ErrorCode(err) != CodeUnreachable {
		t.Errorf("closed server: %v, want unreachable", err)
	}
}
