package balenasim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Scenarios: sequences of requests whose later answers depend on earlier
// ones.

func bearerDo(t *testing.T, s *Sim, method, target, token, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func TestExpiryIsEnforcedAtOnce(t *testing.T) {
	s := newTestSim(t, Options{})
	admin := credential(t, s, "admin")
	key := secretOf(t, s, "grafana-readonly")
	var id int64
	for _, k := range s.Keys() {
		if k.Secret == key {
			id = k.ID
		}
	}
	target := "/v7/api_key(" + itoa64(id) + ")"
	if st, _ := bearerDo(t, s, "GET", "/actor/v1/whoami", key, ""); st != 200 {
		t.Fatalf("fresh key: %d", st)
	}
	if st, _ := bearerDo(t, s, "PATCH", target, admin, `{"expiry_date":"2020-01-01T00:00:00.000Z"}`); st != 200 {
		t.Fatalf("patch to past: %d", st)
	}
	if st, body := bearerDo(t, s, "GET", "/actor/v1/whoami", key, ""); st != 401 || body != "" {
		t.Fatalf("expired key: %d %q", st, body)
	}
	if st, _ := bearerDo(t, s, "GET", "/v7/api_key", key, ""); st != 401 {
		t.Fatalf("expired key lists: %d", st)
	}
	if st, _ := bearerDo(t, s, "PATCH", target, admin, `{"expiry_date":null}`); st != 200 {
		t.Fatalf("patch to null: %d", st)
	}
	if st, _ := bearerDo(t, s, "GET", "/actor/v1/whoami", key, ""); st != 200 {
		t.Fatalf("revived key: %d", st)
	}
	_, body := bearerDo(t, s, "GET", target+"?$select=expiry_date", admin, "")
	if body != `{"d":[{"expiry_date":null}]}` {
		t.Fatalf("after clearing: %s", body)
	}
	// Expiry is relative to the sim's clock: the key dies when time passes.
	if st, _ := bearerDo(t, s, "PATCH", target, admin, `{"expiry_date":"2026-01-15T12:00:00.001Z"}`); st != 200 {
		t.Fatal(st)
	}
	if st, _ := bearerDo(t, s, "GET", "/actor/v1/whoami", key, ""); st != 200 {
		t.Fatalf("a millisecond before expiry: %d", st)
	}
	if st, _ := bearerDo(t, s, "PATCH", target, admin, `{"expiry_date":"2026-01-15T12:00:00.000Z"}`); st != 200 {
		t.Fatal(st)
	}
	if st, _ := bearerDo(t, s, "GET", "/actor/v1/whoami", key, ""); st != 401 {
		t.Fatalf("at expiry: %d", st)
	}
}

func itoa64(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestDeleteRevokesAtOnce(t *testing.T) {
	s := newTestSim(t, Options{})
	admin := credential(t, s, "admin")
	st, body := bearerDo(t, s, "POST", "/api-key/user/full", admin, `{"name":"temp","expiryDate":null}`)
	if st != 200 {
		t.Fatalf("create: %d %s", st, body)
	}
	var secret string
	if err := json.Unmarshal([]byte(body), &secret); err != nil {
		t.Fatal(err)
	}
	if st, _ := bearerDo(t, s, "GET", "/user/v1/whoami", secret, ""); st != 200 {
		t.Fatalf("new key: %d", st)
	}
	_, list := bearerDo(t, s, "GET", "/v7/api_key?$select=id,name,description,expiry_date&$filter=name%20eq%20'temp'", admin, "")
	var env struct {
		D []struct {
			ID          int64
			Name        string
			Description *string
			ExpiryDate  *string `json:"expiry_date"`
		}
	}
	if err := json.Unmarshal([]byte(list), &env); err != nil || len(env.D) != 1 || env.D[0].Description != nil || env.D[0].ExpiryDate != nil {
		t.Fatalf("listing of the new key: %s", list)
	}
	target := "/v7/api_key(" + itoa64(env.D[0].ID) + ")"
	if st, body := bearerDo(t, s, "DELETE", target, admin, ""); st != 200 || body != "" {
		t.Fatalf("delete: %d %q", st, body)
	}
	if st, _ := bearerDo(t, s, "GET", "/user/v1/whoami", secret, ""); st != 401 {
		t.Fatalf("deleted key: %d", st)
	}
	if _, body := bearerDo(t, s, "GET", target, admin, ""); body != `{"d":[]}` {
		t.Fatalf("deleted row: %s", body)
	}
	if st, _ := bearerDo(t, s, "DELETE", target, admin, ""); st != 200 {
		t.Fatalf("second delete: %d", st)
	}
}

func TestForeignKeysAreLeftAlone(t *testing.T) {
	s := newTestSim(t, Options{})
	admin := credential(t, s, "admin")
	_, body := bearerDo(t, s, "GET", "/v7/api_key?$select=id", admin, "")
	var env struct{ D []struct{ ID int64 } }
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatal(err)
	}
	visible := map[int64]bool{}
	for _, r := range env.D {
		visible[r.ID] = true
	}
	if st, _ := bearerDo(t, s, "PATCH", "/v7/api_key?$filter=name%20ne%20null", admin, `{"description":"bulk"}`); st != 200 {
		t.Fatal(st)
	}
	if st, _ := bearerDo(t, s, "DELETE", "/v7/api_key(8)", admin, ""); st != 200 {
		t.Fatal(st)
	}
	found8 := false
	for _, k := range s.Keys() {
		found8 = found8 || k.ID == 8
		bulked := k.Description != nil && *k.Description == "bulk"
		if want := visible[k.ID] && k.Name != nil; bulked != want {
			t.Errorf("key %d (visible %v, named %v): patched %v", k.ID, visible[k.ID], k.Name != nil, bulked)
		}
	}
	if !found8 {
		t.Error("bob's key 8 was deleted by admin")
	}
}

func TestTwoFactorLogin(t *testing.T) {
	s := newTestSim(t, Options{})
	st, partial := bearerDo(t, s, "POST", "/login_", "", `{"username":"2fa@example.com","password":"demo-password"}`)
	if st != 200 {
		t.Fatal(st)
	}
	if !strings.Contains(decodeClaims(t, partial), `"twoFactorRequired":true`) {
		t.Fatalf("partial token claims: %s", decodeClaims(t, partial))
	}
	if st, _ := bearerDo(t, s, "GET", "/actor/v1/whoami", partial, ""); st != 401 {
		t.Fatalf("partial token whoami: %d", st)
	}
	if st, _ := bearerDo(t, s, "GET", "/v7/api_key", partial, ""); st != 401 {
		t.Fatalf("partial token lists: %d", st)
	}
	if st, _ := bearerDo(t, s, "POST", "/auth/totp/verify", partial, `{"code":"000000"}`); st != 401 {
		t.Fatalf("wrong code: %d", st)
	}
	secret := s.TOTPSecret(Demo2FAEmail)
	if secret != Demo2FASecret {
		t.Fatalf("secret %q", secret)
	}
	st, full := bearerDo(t, s, "POST", "/auth/totp/verify", partial, `{"code":"`+TOTPCode(secret, testNow)+`"}`)
	if st != 200 {
		t.Fatalf("verify: %d", st)
	}
	if !strings.Contains(decodeClaims(t, full), `"twoFactorRequired":false`) {
		t.Fatalf("full token claims: %s", decodeClaims(t, full))
	}
	if st, body := bearerDo(t, s, "GET", "/user/v1/whoami", full, ""); st != 200 || !strings.Contains(body, "2fa@example.com") {
		t.Fatalf("whoami: %d %s", st, body)
	}
	if st, _ := bearerDo(t, s, "POST", "/api-key/user/full", full, `{"name":"after 2fa"}`); st != 200 {
		t.Fatalf("a completed 2FA login is fresh: %d", st)
	}
}

func decodeClaims(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := b64.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTOTPCodeMatchesRFC6238(t *testing.T) {
	// RFC 6238 appendix B, SHA-1, secret "12345678901234567890", last 6 digits.
	secret := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	for _, tc := range []struct {
		unix int64
		code string
	}{{59, "287082"}, {1111111109, "081804"}, {1234567890, "005924"}, {2000000000, "279037"}} {
		if got := TOTPCode(secret, time.Unix(tc.unix, 0)); got != tc.code {
			t.Errorf("TOTPCode at %d = %s, want %s", tc.unix, got, tc.code)
		}
	}
}

func TestLoginThrottle(t *testing.T) {
	s := newTestSim(t, Options{LoginMaxAttempts: 3})
	bad := `{"username":"admin@example.com","password":"wrong"}`
	good := `{"username":"admin@example.com","password":"demo-password"}`
	for i := 0; i < 2; i++ {
		if st, _ := bearerDo(t, s, "POST", "/login_", "", bad); st != 401 {
			t.Fatalf("try %d: %d", i, st)
		}
	}
	// A success clears the count.
	if st, _ := bearerDo(t, s, "POST", "/login_", "", good); st != 200 {
		t.Fatal(st)
	}
	for i := 0; i < 3; i++ {
		if st, _ := bearerDo(t, s, "POST", "/login_", "", bad); st != 401 {
			t.Fatalf("try %d: %d", i, st)
		}
	}
	r := httptest.NewRequest("POST", "/login_", strings.NewReader(good))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 429 || w.Body.String() != `"Too Many Requests"` || w.Header().Get("Retry-After") != "3600" {
		t.Fatalf("blocked login: %d %q Retry-After %q", w.Code, w.Body.String(), w.Header().Get("Retry-After"))
	}
	// Another username from the same address is not blocked.
	if st, _ := bearerDo(t, s, "POST", "/login_", "", `{"username":"bob@example.com","password":"demo-password"}`); st != 200 {
		t.Fatalf("other user: %d", st)
	}
}

func TestFreshnessAndRefresh(t *testing.T) {
	now := testNow
	s := newTestSim(t, Options{Now: func() time.Time { return now }})
	_, tok := bearerDo(t, s, "POST", "/login_", "", `{"username":"admin","password":"demo-password"}`)
	if st, _ := bearerDo(t, s, "POST", "/api-key/user/full", tok, `{"name":"a"}`); st != 200 {
		t.Fatalf("fresh login: %d", st)
	}
	now = now.Add(21 * time.Minute)
	if st, body := bearerDo(t, s, "POST", "/api-key/user/full", tok, `{"name":"b"}`); st != 401 || body != `"Fresh authentication token required"` {
		t.Fatalf("21 minutes later: %d %s", st, body)
	}
	// A plain refresh keeps authTime ...
	_, refreshed := bearerDo(t, s, "GET", "/user/v1/refresh-token", tok, "")
	if st, _ := bearerDo(t, s, "POST", "/api-key/user/full", refreshed, `{"name":"b"}`); st != 401 {
		t.Fatalf("after a plain refresh: %d", st)
	}
	// ... a refresh with the password renews it.
	_, renewed := bearerDo(t, s, "POST", "/user/v1/refresh-token", tok, `{"password":"demo-password"}`)
	if st, _ := bearerDo(t, s, "POST", "/api-key/user/full", renewed, `{"name":"b"}`); st != 200 {
		t.Fatalf("after a password refresh: %d", st)
	}
	// Session tokens expire.
	now = now.Add(8 * 24 * time.Hour)
	if st, _ := bearerDo(t, s, "GET", "/actor/v1/whoami", renewed, ""); st != 401 {
		t.Fatalf("expired JWT: %d", st)
	}
}

func TestBodyLimit(t *testing.T) {
	s := newTestSim(t, Options{})
	admin := credential(t, s, "admin")
	big := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
	for _, target := range []string{"/api-key/user/full", "/login_"} {
		if st, _ := bearerDo(t, s, "POST", target, admin, big); st != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: %d", target, st)
		}
	}
	if st, _ := bearerDo(t, s, "PATCH", "/v7/api_key(1)", admin, big); st != http.StatusRequestEntityTooLarge {
		t.Errorf("patch: %d", st)
	}
}

func TestCountersAndOverlap(t *testing.T) {
	s := newTestSim(t, Options{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	admin := credential(t, s, "admin")
	meet := s.Rendezvous(5*time.Second, "GET /v7/api_key", "GET /v7/api_key/$count")
	var wg sync.WaitGroup
	for _, p := range []string{"/v7/api_key?$top=1", "/v7/api_key/$count"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", srv.URL+p, nil)
			req.Header.Set("Authorization", "Bearer "+admin)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	if !meet.Met() {
		t.Error("the two calls sent at once did not meet")
	}
	bearerDo(t, s, "PATCH", "/v7/api_key(1)", admin, `{"name":"x"}`)
	bearerDo(t, s, "POST", "/api-key/application/1/provisioning", admin, `{}`)
	bearerDo(t, s, "GET", "/v7/device(uuid='abc')", admin, "")
	c := s.Counters()
	for route, want := range map[string]int{
		"GET /v7/api_key":                            1,
		"GET /v7/api_key/$count":                     1,
		"PATCH /v7/api_key(id)":                      1,
		"POST /api-key/application/:id/provisioning": 1,
		"GET /v7/device(id)":                         1,
	} {
		if got := c.Get(route); got != want {
			t.Errorf("Get(%q) = %d, want %d (routes %v)", route, got, want, c.Routes())
		}
	}
	if c.Total() != 5 || c.GetStatus("GET /v7/api_key", 200) != 1 || c.ByStatus[200] != 5 {
		t.Errorf("totals: %+v", c)
	}
	if c.MaxInFlight < 2 || !c.Overlapped("GET /v7/api_key", "GET /v7/api_key/$count") {
		t.Errorf("the two calls did not overlap: max in flight %d, spans %+v", c.MaxInFlight, c.Spans)
	}
	s.ResetCounters()
	if c := s.Counters(); c.Total() != 0 || len(c.Spans) != 0 {
		t.Errorf("after reset: %+v", c)
	}
}

func TestFaults(t *testing.T) {
	s := newTestSim(t, Options{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	get := func() (*http.Response, []byte, error) {
		resp, err := http.Get(srv.URL + "/ping")
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	s.SetFaults(Faults{ErrorRate: 1})
	if resp, _, err := get(); err != nil || resp.StatusCode < 500 {
		t.Errorf("error fault: %v %v", resp, err)
	}
	s.SetFaults(Faults{RateLimitRate: 1, RetryAfter: 3 * time.Second})
	if resp, body, err := get(); err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" || string(body) != `"Too Many Requests"` {
		t.Errorf("429 fault: %v %s %v", resp, body, err)
	}
	s.SetFaults(Faults{ResetRate: 1})
	if _, _, err := get(); err == nil {
		t.Error("reset fault: no error")
	}
	s.SetFaults(Faults{TruncateRate: 1})
	if _, _, err := get(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncate fault: %v", err)
	}
	s.SetFaults(Faults{GarbageRate: 1})
	if resp, body, err := get(); err != nil || !strings.HasPrefix(string(body), "<html>") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("garbage fault: %s %v", body, err)
	}
	s.SetFaults(Faults{ErrorRate: 1, Routes: []string{"GET /v7/api_key"}})
	if resp, _, err := get(); err != nil || resp.StatusCode != 200 {
		t.Errorf("fault outside its routes: %v %v", resp, err)
	}
	s.SetFaults(Faults{ErrorRate: 0.5, Seed: 7})
	fails := 0
	for i := 0; i < 200; i++ {
		if resp, _, err := get(); err == nil && resp.StatusCode >= 500 {
			fails++
		}
	}
	if fails < 60 || fails > 140 {
		t.Errorf("error rate 0.5 gave %d of 200", fails)
	}
	if c := s.Counters(); c.ByStatus[0] < 1 { // the client may retry a reset GET once
		t.Errorf("resets counted as status 0: %v", c.ByStatus)
	}
}

func TestCreateKeyAndRecords(t *testing.T) {
	s := newTestSim(t, Options{})
	name := "seeded"
	exp := testNow.Add(48 * time.Hour)
	rec, err := s.CreateKey(NewKey{Kind: KindProvisioning, Owner: "acme/plant-3", Name: &name, ExpiryDate: &exp})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Kind != KindProvisioning || rec.FleetSlug != "acme/plant-3" || len(rec.Secret) != 32 || !rec.CreatedAt.Equal(testNow) {
		t.Fatalf("record %+v", rec)
	}
	if st, body := bearerDo(t, s, "GET", "/actor/v1/whoami", rec.Secret, ""); st != 200 || !strings.Contains(body, `"slug":"acme/plant-3"`) {
		t.Fatalf("seeded key: %d %s", st, body)
	}
	if _, err := s.CreateKey(NewKey{Kind: KindDevice, Owner: "nope"}); err == nil {
		t.Error("unknown device accepted")
	}
	kinds := map[KeyKind]int{}
	for _, k := range s.Keys() {
		kinds[k.Kind]++
	}
	if kinds[KindUser] != 10 || kinds[KindProvisioning] != 9 || kinds[KindDevice] != 12 {
		t.Errorf("kinds %v", kinds)
	}
}

func TestDatasets(t *testing.T) {
	for _, name := range Datasets {
		s := newTestSim(t, Options{Dataset: name})
		admin := credential(t, s, "admin")
		if st, _ := bearerDo(t, s, "GET", "/v7/api_key/$count", admin, ""); st != 200 {
			t.Errorf("%s: %d", name, st)
		}
	}
	if _, err := New(Options{Dataset: "nope"}); err == nil {
		t.Error("unknown dataset accepted")
	}
	if _, err := New(Options{Profile: "nope"}); err == nil {
		t.Error("unknown profile accepted")
	}
	// Deterministic: the same dataset twice has the same secrets.
	a, b := newTestSim(t, Options{}), newTestSim(t, Options{})
	if secretOf(t, a, "ci-deploy") != secretOf(t, b, "ci-deploy") {
		t.Error("demo secrets differ between runs")
	}
}

func TestLargeDataset(t *testing.T) {
	s := newTestSim(t, Options{Dataset: "large"})
	fleets, devices := map[string]bool{}, map[string]bool{}
	users := map[string]int{}
	for _, k := range s.Keys() {
		switch k.Kind {
		case KindDevice:
			devices[k.DeviceUUID] = true
		case KindProvisioning:
			fleets[k.FleetSlug] = true
		case KindUser:
			users[k.OwnerEmail]++
		}
	}
	total := 0
	for _, n := range users {
		total += n
	}
	if len(fleets) < 200 || len(devices) != 20000 || total != 1000 || len(users) < 3 {
		t.Fatalf("fleets %d, devices with keys %d, user keys %d over %d users", len(fleets), len(devices), total, len(users))
	}
	admin := credential(t, s, "admin")
	if _, body := bearerDo(t, s, "GET", "/v7/api_key/$count", admin, ""); body != `{"d":20600}` {
		t.Errorf("admin sees %s", body)
	}
}

// TestConcurrentUse mixes readers and writers; run with -race.
func TestConcurrentUse(t *testing.T) {
	s := newTestSim(t, Options{})
	tokens := map[string]string{}
	for _, as := range []string{"admin", "bob", "twofa", "userkey"} {
		tokens[as] = credential(t, s, as)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				for _, as := range []string{"admin", "bob", "twofa", "userkey"} {
					bearerDo(t, s, "GET", "/v7/api_key?$filter=is_of__actor/any(a:a/is_of__device/$count%20gt%200)&$orderby=name%20asc&$top=5", tokens[as], "")
				}
				bearerDo(t, s, "PATCH", "/v7/api_key(1)", tokens["admin"], `{"description":"x"}`)
				bearerDo(t, s, "POST", "/api-key/application/1/provisioning", tokens["admin"], `{"name":"c"}`)
				bearerDo(t, s, "DELETE", "/v7/api_key?$filter=name%20eq%20'c'", tokens["admin"], "")
				s.Keys()
				s.Counters()
			}
		}()
	}
	wg.Wait()
}

// Calls sent one after the other do not meet: the first goes on alone
// once the rendezvous gives up on its partner.
func TestRendezvousTellsSequentialCalls(t *testing.T) {
	s := newTestSim(t, Options{})
	admin := credential(t, s, "admin")
	meet := s.Rendezvous(50*time.Millisecond, "GET /v7/api_key", "GET /v7/api_key/$count")
	for _, p := range []string{"/v7/api_key?$top=1", "/v7/api_key/$count"} {
		if code, _ := bearerDo(t, s, "GET", p, admin, ""); code != http.StatusOK {
			t.Fatalf("%s: %d", p, code)
		}
	}
	if meet.Met() {
		t.Error("sequential calls were reported as parallel")
	}
}

// On a write, a lost answer (slow, cut short, garbled, reset) comes after
// the write was applied; an error or a 429 before it, with nothing applied.
// Routes given as "METHOD /path" match as prefixes.
func TestWriteFaultsComeAfterTheWrite(t *testing.T) {
	s := newTestSim(t, Options{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	name := "fault target"
	k, err := s.CreateKey(NewKey{Kind: KindUser, Owner: DemoEmail, Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	token := credential(t, s, "admin")
	current := func() string {
		for _, r := range s.Keys() {
			if r.ID == k.ID {
				return *r.Name
			}
		}
		return ""
	}
	for i, c := range []struct {
		faults  Faults
		applied bool
	}{
		{Faults{TruncateRate: 1}, true},
		{Faults{GarbageRate: 1}, true},
		{Faults{ResetRate: 1}, true},
		{Faults{Latency: time.Minute}, true}, // the client gives up first
		{Faults{ErrorRate: 1}, false},
		{Faults{RateLimitRate: 1}, false},
	} {
		c.faults.Routes = []string{"PATCH /v7/api_key"}
		s.SetFaults(c.faults)
		want := fmt.Sprintf("renamed %d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, fmt.Sprintf("%s/v7/api_key(%d)", srv.URL, k.ID), strings.NewReader(`{"name":"`+want+`"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		cancel()
		if got := current(); (got == want) != c.applied {
			t.Errorf("%+v: name %q after the write (err %v), applied want %v", c.faults, got, err, c.applied)
		}
	}
	// Outside the routes, nothing happens.
	s.SetFaults(Faults{ErrorRate: 1, Routes: []string{"DELETE /v7/api_key"}})
	if code, _, _ := do(t, s, http.MethodGet, "/v7/api_key?$select=id&$top=1", "admin", ""); code != http.StatusOK {
		t.Errorf("a GET met a DELETE's fault: %d", code)
	}
	if code, _, _ := do(t, s, http.MethodDelete, fmt.Sprintf("/v7/api_key(%d)", k.ID), "admin", ""); code < 500 {
		t.Errorf("a DELETE escaped its fault: %d", code)
	}
}

// Both datasets, in both profiles, give admin devices of every kind of
// connectivity a "last seen" view needs: online, silent for more than 30
// and more than 90 days, and never seen.
func TestDatasetsSpreadLastSeen(t *testing.T) {
	filters := map[string]string{
		"online":         "is_online eq true",
		"silent 30-90d":  "is_online eq false and last_connectivity_event lt now() sub duration'P30D' and last_connectivity_event ge now() sub duration'P90D'",
		"silent over 90": "is_online eq false and last_connectivity_event lt now() sub duration'P90D'",
		"never seen":     "last_connectivity_event eq null",
	}
	for _, name := range []string{"demo", "large"} {
		for _, profile := range []Profile{ProfileBalenaCloud, ProfileOpenBalena} {
			s := newTestSim(t, Options{Dataset: name, Profile: profile})
			admin := credential(t, s, "admin")
			for what, filter := range filters {
				st, body := bearerDo(t, s, "GET", "/v7/device/$count?$filter="+strings.ReplaceAll(filter, " ", "%20"), admin, "")
				if st != 200 || body == `{"d":0}` {
					t.Errorf("%s, %s: %s devices: %d %s", name, profile, what, st, body)
				}
			}
		}
	}
}
