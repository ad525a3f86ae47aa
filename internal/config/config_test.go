package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const goodKey = "0123456789abcdef0123456789abcdef01234567"

func TestLoadReadsEverySetting(t *testing.T) {
	cfg, err := Load(env(map[string]string{
		"KEYPORTAL_ADDR":                 "0.0.0.0:9000",
		"KEYPORTAL_BALENA_API_URL":       "https://api.example.com",
		"KEYPORTAL_DATA_DIR":             "/var/lib/keyportal",
		"KEYPORTAL_UPSTREAM_TIMEOUT":     "3s",
		"KEYPORTAL_IDLE_TIMEOUT":         "30m",
		"KEYPORTAL_SESSION_KEYS":         goodKey + ", " + strings.Repeat("z", 32),
		"KEYPORTAL_COOKIE_SECURE":        "true",
		"KEYPORTAL_LOG_LEVEL":            "debug",
		"KEYPORTAL_LOG_FORMAT":           "json",
		"KEYPORTAL_SESSION_STORE":        "redis://:pw@redis:6379/2",
		"KEYPORTAL_TRUSTED_PROXIES":      "10.0.0.0/8, 192.168.1.7,fd00::1",
		"KEYPORTAL_SIGNIN_LIMIT_IP":      "100/1h",
		"KEYPORTAL_SIGNIN_LIMIT_ACCOUNT": "3/10m",
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "0.0.0.0:9000" || cfg.BalenaAPIURL != "https://api.example.com" || cfg.DataDir != "/var/lib/keyportal" ||
		cfg.UpstreamTimeout != 3*time.Second || cfg.IdleTimeout != 30*time.Minute || len(cfg.SessionKeys) != 2 ||
		!cfg.CookieSecure || cfg.LogLevel.String() != "DEBUG" || cfg.LogFormat != "json" ||
		cfg.SessionStore != "redis://:pw@redis:6379/2" || cfg.SignInLimitIP.String() != "100/1h0m0s" || cfg.SignInLimitAccount.String() != "3/10m0s" {
		t.Errorf("config = %+v", cfg)
	}
	var proxies []string
	for _, n := range cfg.TrustedProxies {
		proxies = append(proxies, n.String())
	}
	if strings.Join(proxies, " ") != "10.0.0.0/8 192.168.1.7/32 fd00::1/128" {
		t.Errorf("trusted proxies = %v", proxies)
	}
}

func TestDefaultsKeepSessionsInFilesAndLimitSignIns(t *testing.T) {
	cfg, err := Load(env(map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey}), false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SessionStore != "" || len(cfg.TrustedProxies) != 0 || cfg.SignInLimitIP.String() != "30/15m0s" || cfg.SignInLimitAccount.String() != "5/15m0s" {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestLoadSecretFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte(goodKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(env(map[string]string{"KEYPORTAL_SESSION_KEYS_FILE": path}), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.SessionKeys) != 1 || string(cfg.SessionKeys[0]) != goodKey {
		t.Errorf("keys = %q", cfg.SessionKeys)
	}
}

func TestLoadRefusesBadSettingsWithClearMessages(t *testing.T) {
	cases := map[string]struct {
		env  map[string]string
		want string
	}{
		"no session key":        {map[string]string{}, "KEYPORTAL_SESSION_KEYS (or KEYPORTAL_SESSION_KEYS_FILE) is required"},
		"short key":             {map[string]string{"KEYPORTAL_SESSION_KEYS": "short"}, "key 1 is 5 characters"},
		"both key forms":        {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_SESSION_KEYS_FILE": "/x"}, "not both"},
		"missing file":          {map[string]string{"KEYPORTAL_SESSION_KEYS_FILE": "/nonexistent/keys"}, "KEYPORTAL_SESSION_KEYS_FILE"},
		"bad addr":              {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_ADDR": "8080"}, "KEYPORTAL_ADDR"},
		"bad url":               {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_BALENA_API_URL": "api.balena-cloud.com"}, "KEYPORTAL_BALENA_API_URL"},
		"bad timeout":           {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_UPSTREAM_TIMEOUT": "ten"}, "KEYPORTAL_UPSTREAM_TIMEOUT"},
		"short idle":            {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_IDLE_TIMEOUT": "30s"}, "KEYPORTAL_IDLE_TIMEOUT=30s: want at least 1m0s"},
		"bad bool":              {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_COOKIE_SECURE": "yes please"}, "KEYPORTAL_COOKIE_SECURE"},
		"bad level":             {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_LOG_LEVEL": "loud"}, "KEYPORTAL_LOG_LEVEL"},
		"bad format":            {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_LOG_FORMAT": "xml"}, "KEYPORTAL_LOG_FORMAT"},
		"bad store":             {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_SESSION_STORE": "memcached://x:1"}, "KEYPORTAL_SESSION_STORE: want empty"},
		"store password":        {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_SESSION_STORE": "http://:hunter2@x"}, "KEYPORTAL_SESSION_STORE: want empty"},
		"store bad database":    {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_SESSION_STORE": "redis://:hunter2@redis:6379/sessions"}, "KEYPORTAL_SESSION_STORE: want empty"},
		"store bad port":        {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_SESSION_STORE": "redis://:hunter2@redis:port/0"}, "KEYPORTAL_SESSION_STORE: want empty"},
		"store port 99999":      {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_SESSION_STORE": "redis://:hunter2@redis:99999/0"}, "KEYPORTAL_SESSION_STORE: want empty"},
		"bad proxy":             {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_TRUSTED_PROXIES": "proxy.local"}, "KEYPORTAL_TRUSTED_PROXIES"},
		"bad limit":             {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_SIGNIN_LIMIT_IP": "5 per minute"}, "KEYPORTAL_SIGNIN_LIMIT_IP"},
		"zero limit":            {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_SIGNIN_LIMIT_ACCOUNT": "0/1m"}, "KEYPORTAL_SIGNIN_LIMIT_ACCOUNT"},
		"bad interval":          {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_WATCH_INTERVAL": "often"}, "KEYPORTAL_WATCH_INTERVAL"},
		"short interval":        {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_WATCH_TOKEN": "t", "KEYPORTAL_WATCH_INTERVAL": "1s"}, "KEYPORTAL_WATCH_INTERVAL=1s: want at least"},
		"bad warn":              {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_WATCH_WARN": "a week"}, "KEYPORTAL_WATCH_WARN"},
		"zero warn days":        {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_WATCH_WARN": "0d"}, "KEYPORTAL_WATCH_WARN"},
		"both token forms":      {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_WATCH_TOKEN": "t", "KEYPORTAL_WATCH_TOKEN_FILE": "/x"}, "KEYPORTAL_WATCH_TOKEN"},
		"bad metrics":           {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_METRICS": "on"}, "KEYPORTAL_METRICS"},
		"bad network":           {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_METRICS_ALLOWED_NETWORKS": "10.0.0.0/33"}, "KEYPORTAL_METRICS_ALLOWED_NETWORKS"},
		"user, no password":     {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_METRICS_USERNAME": "prom"}, "KEYPORTAL_METRICS_USERNAME and KEYPORTAL_METRICS_PASSWORD"},
		"database not postgres": {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_DATABASE_URL": "mysql://u:hunter2@db/x"}, "KEYPORTAL_DATABASE_URL: want empty"},
		"both database forms":   {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_DATABASE_URL": "postgres://db/x", "KEYPORTAL_DATABASE_URL_FILE": "/x"}, "KEYPORTAL_DATABASE_URL"},
		"bad retention":         {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_AUDIT_RETENTION": "forever"}, "KEYPORTAL_AUDIT_RETENTION"},
		"short retention":       {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_AUDIT_RETENTION": "1h"}, "KEYPORTAL_AUDIT_RETENTION=1h0m0s: want at least a day"},
		"bad policy lifetime":   {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_POLICY_MAX_LIFETIME": "3 months"}, "KEYPORTAL_POLICY_MAX_LIFETIME"},
		"short policy lifetime": {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_POLICY_MAX_LIFETIME": "2h"}, "KEYPORTAL_POLICY_MAX_LIFETIME=2h0m0s: want at least 1d"},
		"bad policy bool":       {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_POLICY_REQUIRE_DESCRIPTION": "always"}, "KEYPORTAL_POLICY_REQUIRE_DESCRIPTION"},
		"missing password file": {map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_METRICS_PASSWORD_FILE": "/nonexistent/pw"}, "KEYPORTAL_METRICS_PASSWORD_FILE"},
	}
	for name, c := range cases {
		_, err := Load(env(c.env), false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows a password: %v", name, err)
		}
	}
}

func TestAuditSettings(t *testing.T) {
	cfg, err := Load(env(map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey}), false)
	if err != nil || cfg.AuditRetention != 400*24*time.Hour || cfg.DatabaseURL != "" || len(cfg.AuditAdmins) != 0 {
		t.Errorf("defaults: %v, retention %s, database %q, admins %q", err, cfg.AuditRetention, cfg.DatabaseURL, cfg.AuditAdmins)
	}
	path := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(path, []byte("postgres://keyportal:pw@db:5432/keyportal\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load(env(map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_DATABASE_URL_FILE": path,
		"KEYPORTAL_AUDIT_RETENTION": "90d", "KEYPORTAL_AUDIT_ADMINS": "alice, 42,bob"}), false)
	if err != nil || cfg.DatabaseURL != "postgres://keyportal:pw@db:5432/keyportal" || cfg.AuditRetention != 90*24*time.Hour ||
		strings.Join(cfg.AuditAdmins, "|") != "alice|42|bob" {
		t.Errorf("%v: database %q, retention %s, admins %q", err, cfg.DatabaseURL, cfg.AuditRetention, cfg.AuditAdmins)
	}
}

func TestDemoNeedsNoSessionKey(t *testing.T) {
	if _, err := Load(env(map[string]string{}), true); err != nil {
		t.Errorf("demo: %v", err)
	}
}

func TestWatchAndMetricsSettings(t *testing.T) {
	dir := t.TempDir()
	token, pw := filepath.Join(dir, "token"), filepath.Join(dir, "pw")
	_ = os.WriteFile(token, []byte("the-token\n"), 0o600)
	_ = os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	cfg, err := Load(env(map[string]string{
		"KEYPORTAL_SESSION_KEYS":             goodKey,
		"KEYPORTAL_WATCH_TOKEN_FILE":         token,
		"KEYPORTAL_WATCH_INTERVAL":           "1m",
		"KEYPORTAL_WATCH_WARN":               "3d",
		"KEYPORTAL_METRICS":                  "true",
		"KEYPORTAL_METRICS_ALLOWED_NETWORKS": "10.0.0.0/8, 192.168.1.7",
		"KEYPORTAL_METRICS_USERNAME":         "prom",
		"KEYPORTAL_METRICS_PASSWORD_FILE":    pw,
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	var nets []string
	for _, n := range cfg.MetricsAllowedNetworks {
		nets = append(nets, n.String())
	}
	if cfg.WatchToken != "the-token" || cfg.WatchInterval != time.Minute || cfg.WatchWarn != 72*time.Hour || !cfg.Metrics ||
		strings.Join(nets, " ") != "10.0.0.0/8 192.168.1.7/32" || cfg.MetricsUsername != "prom" || cfg.MetricsPassword != "s3cret" {
		t.Errorf("config = %+v, networks %v", cfg, nets)
	}

	cfg, err = Load(env(map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_WATCH_WARN": "36h"}), false)
	if err != nil {
		t.Fatal(err)
	}
	nets = nil
	for _, n := range cfg.MetricsAllowedNetworks {
		nets = append(nets, n.String())
	}
	if cfg.WatchToken != "" || cfg.WatchInterval != 5*time.Minute || cfg.WatchWarn != 36*time.Hour || cfg.Metrics ||
		strings.Join(nets, ",") != "127.0.0.0/8,::1/128" {
		t.Errorf("defaults: %+v, networks %v", cfg, nets)
	}
}

func TestPolicySettings(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 0, "off": 0, "90d": 90 * 24 * time.Hour, "36h": 36 * time.Hour} {
		cfg, err := Load(env(map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_POLICY_MAX_LIFETIME": v, "KEYPORTAL_POLICY_REQUIRE_DESCRIPTION": "true"}), false)
		if err != nil || cfg.PolicyMaxLifetime != want || !cfg.PolicyRequireDescription {
			t.Errorf("%q: %v %v, want %v", v, cfg.PolicyMaxLifetime, err, want)
		}
	}
}

// TestReadmeTableNamesEveryVariable keeps the README's configuration table
// and Load in step: an operator finds every variable there, and none that
// the portal ignores.
func TestReadmeTableNamesEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile("`(KEYPORTAL_[A-Z_]+|_FILE)`")
	documented := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if !strings.HasPrefix(line, "| `KEYPORTAL_") {
			continue
		}
		cell, _, _ := strings.Cut(strings.TrimPrefix(line, "|"), "|")
		last := ""
		for _, m := range name.FindAllStringSubmatch(cell, -1) {
			if m[1] == "_FILE" { // "`KEYPORTAL_X` / `_FILE`": the variant of the name before it
				documented[last+"_FILE"] = true
				continue
			}
			last = m[1]
			documented[last] = true
		}
	}
	read := map[string]bool{}
	for _, v := range Variables() {
		read[v] = true
		if !documented[v] {
			t.Errorf("Load reads %s but the README's configuration table does not name it", v)
		}
	}
	for v := range documented {
		if !read[v] {
			t.Errorf("the README's configuration table names %s but Load never reads it", v)
		}
	}
	if len(read) < 20 {
		t.Errorf("Variables() = %v: too few for the settings Load knows", Variables())
	}
}

func TestBasePathAndPublicURL(t *testing.T) {
	ok := map[string][2]string{ // env BASE_PATH, PUBLIC_URL → want BasePath, CookiePath
		"root":                 {"", ""},
		"sub-path":             {"/keyportal", ""},
		"nested":               {"/tools/key-portal_2", ""},
		"url at root":          {"", "https://keys.example.com"},
		"url at root, slash":   {"", "https://keys.example.com/"},
		"url under sub-path":   {"/keyportal", "https://tools.example.com/keyportal"},
		"url with slash, port": {"/keyportal", "http://127.0.0.1:8443/keyportal/"},
	}
	for name, v := range ok {
		cfg, err := Load(env(map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_BASE_PATH": v[0], "KEYPORTAL_PUBLIC_URL": v[1]}), false)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		wantCookie := v[0]
		if wantCookie == "" {
			wantCookie = "/"
		}
		if cfg.BasePath != v[0] || cfg.CookiePath() != wantCookie || strings.HasSuffix(cfg.PublicURL, "/") {
			t.Errorf("%s: base %q, cookie path %q, public URL %q", name, cfg.BasePath, cfg.CookiePath(), cfg.PublicURL)
		}
	}
	bad := map[string]struct{ base, url, want string }{
		"no leading slash": {"keyportal", "", `KEYPORTAL_BASE_PATH="keyportal": want a path that starts with /`},
		"trailing slash":   {"/keyportal/", "", `KEYPORTAL_BASE_PATH="/keyportal/": want no trailing slash`},
		"slash alone":      {"/", "", "leave it empty to serve at the root"},
		"query":            {"/keyportal?x=1", "", "no query or fragment"},
		"fragment":         {"/keyportal#top", "", "no query or fragment"},
		"dot segment":      {"/a/../keyportal", "", "clean path"},
		"double slash":     {"//keyportal", "", "clean path"},
		"space":            {"/key portal", "", "only letters"},
		"url path differs": {"/keyportal", "https://tools.example.com/kp", `KEYPORTAL_PUBLIC_URL="https://tools.example.com/kp" and KEYPORTAL_BASE_PATH="/keyportal" disagree`},
		"url, no base":     {"", "https://tools.example.com/keyportal", `KEYPORTAL_PUBLIC_URL="https://tools.example.com/keyportal" and KEYPORTAL_BASE_PATH="" disagree`},
		"url not absolute": {"/keyportal", "tools.example.com/keyportal", "KEYPORTAL_PUBLIC_URL"},
		"url with query":   {"", "https://keys.example.com/?a=1", "KEYPORTAL_PUBLIC_URL"},
		"url scheme":       {"", "ftp://keys.example.com", "KEYPORTAL_PUBLIC_URL"},
	}
	for name, c := range bad {
		_, err := Load(env(map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_BASE_PATH": c.base, "KEYPORTAL_PUBLIC_URL": c.url}), false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", name, err, c.want)
		}
	}
}

func TestDigestSettings(t *testing.T) {
	dir := t.TempDir()
	smtpFile := filepath.Join(dir, "smtp")
	_ = os.WriteFile(smtpFile, []byte("smtps://mailer:hunter2@mail.example.com:465\n"), 0o600)
	cfg, err := Load(env(map[string]string{
		"KEYPORTAL_SESSION_KEYS":         goodKey,
		"KEYPORTAL_WATCH_TOKEN":          "the-token",
		"KEYPORTAL_PUBLIC_URL":           "https://keys.example.com/",
		"KEYPORTAL_DIGEST_WITHIN":        "30d, 2d,12h,2d",
		"KEYPORTAL_DIGEST_SCHEDULE":      "30 7 * * 1",
		"KEYPORTAL_DIGEST_TZ":            "Europe/Paris",
		"KEYPORTAL_DIGEST_WEBHOOK_URL":   "https://hooks.slack.com/services/T0/B0/xyz",
		"KEYPORTAL_DIGEST_SMTP_URL_FILE": smtpFile,
		"KEYPORTAL_DIGEST_EMAIL_FROM":    "Keyportal <keyportal@example.com>",
		"KEYPORTAL_DIGEST_EMAIL_TO":      "ops@example.com, sec@example.com",
		"KEYPORTAL_DIGEST_SEND_EMPTY":    "true",
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PublicURL != "https://keys.example.com" || fmt.Sprint(cfg.DigestWithin) != "[12h0m0s 48h0m0s 720h0m0s]" ||
		cfg.DigestSchedule != "30 7 * * 1" || cfg.DigestTZ.String() != "Europe/Paris" ||
		cfg.DigestWebhookURL != "https://hooks.slack.com/services/T0/B0/xyz" || cfg.DigestSMTPURL != "smtps://mailer:hunter2@mail.example.com:465" ||
		cfg.DigestEmailFrom != "Keyportal <keyportal@example.com>" || strings.Join(cfg.DigestEmailTo, " ") != "ops@example.com sec@example.com" ||
		!cfg.DigestSendEmpty || !cfg.DigestEnabled() {
		t.Errorf("config = %+v", cfg)
	}

	cfg, err = Load(env(map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey}), false)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cfg.DigestWithin) != "[24h0m0s 168h0m0s 720h0m0s]" || cfg.DigestSchedule != "0 8 * * 1-5" ||
		cfg.DigestTZ != time.UTC || cfg.DigestEnabled() || cfg.DigestSendEmpty {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestBadDigestSettingsStopTheStartNamingTheVariable(t *testing.T) {
	base := map[string]string{"KEYPORTAL_SESSION_KEYS": goodKey, "KEYPORTAL_WATCH_TOKEN": "t", "KEYPORTAL_PUBLIC_URL": "https://keys.example.com"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := map[string]struct {
		env  map[string]string
		want string
	}{
		"schedule":         {with("KEYPORTAL_DIGEST_SCHEDULE", "every monday"), "KEYPORTAL_DIGEST_SCHEDULE=\"every monday\": want a cron expression"},
		"schedule fields":  {with("KEYPORTAL_DIGEST_SCHEDULE", "0 8 * *"), "KEYPORTAL_DIGEST_SCHEDULE"},
		"tz in schedule":   {with("KEYPORTAL_DIGEST_SCHEDULE", "CRON_TZ=UTC 0 8 * * *"), "KEYPORTAL_DIGEST_TZ, not in the expression"},
		"time zone":        {with("KEYPORTAL_DIGEST_TZ", "Mars/Olympus"), "KEYPORTAL_DIGEST_TZ=\"Mars/Olympus\""},
		"within":           {with("KEYPORTAL_DIGEST_WITHIN", "1d,soon"), "KEYPORTAL_DIGEST_WITHIN"},
		"webhook":          {with("KEYPORTAL_DIGEST_WEBHOOK_URL", "ftp://hooks.example.com/hunter2"), "KEYPORTAL_DIGEST_WEBHOOK_URL: want an http(s) URL"},
		"smtp scheme":      {with("KEYPORTAL_DIGEST_SMTP_URL", "mail://u:hunter2@mail.example.com", "KEYPORTAL_DIGEST_EMAIL_FROM", "a@example.com", "KEYPORTAL_DIGEST_EMAIL_TO", "b@example.com"), "KEYPORTAL_DIGEST_SMTP_URL: want smtp://"},
		"from":             {with("KEYPORTAL_DIGEST_SMTP_URL", "smtp://mail.example.com:25", "KEYPORTAL_DIGEST_EMAIL_FROM", "nobody", "KEYPORTAL_DIGEST_EMAIL_TO", "b@example.com"), "KEYPORTAL_DIGEST_EMAIL_FROM=\"nobody\""},
		"no to":            {with("KEYPORTAL_DIGEST_SMTP_URL", "smtp://mail.example.com:25", "KEYPORTAL_DIGEST_EMAIL_FROM", "a@example.com"), "KEYPORTAL_DIGEST_EMAIL_TO is required"},
		"bad to":           {with("KEYPORTAL_DIGEST_SMTP_URL", "smtp://mail.example.com:25", "KEYPORTAL_DIGEST_EMAIL_FROM", "a@example.com", "KEYPORTAL_DIGEST_EMAIL_TO", "b@example.com, c@"), "KEYPORTAL_DIGEST_EMAIL_TO: \"c@\""},
		"public url":       {with("KEYPORTAL_PUBLIC_URL", "keys.example.com"), "KEYPORTAL_PUBLIC_URL=\"keys.example.com\""},
		"no public url":    {with("KEYPORTAL_PUBLIC_URL", "", "KEYPORTAL_DIGEST_WEBHOOK_URL", "https://hooks.example.com/x"), "KEYPORTAL_PUBLIC_URL is required for the digest"},
		"no watch token":   {with("KEYPORTAL_WATCH_TOKEN", "", "KEYPORTAL_DIGEST_WEBHOOK_URL", "https://hooks.example.com/x"), "KEYPORTAL_WATCH_TOKEN (or _FILE) is required for the digest"},
		"send empty":       {with("KEYPORTAL_DIGEST_SEND_EMPTY", "yes please"), "KEYPORTAL_DIGEST_SEND_EMPTY"},
		"webhook and file": {with("KEYPORTAL_DIGEST_WEBHOOK_URL", "https://a", "KEYPORTAL_DIGEST_WEBHOOK_URL_FILE", "/x"), "KEYPORTAL_DIGEST_WEBHOOK_URL or KEYPORTAL_DIGEST_WEBHOOK_URL_FILE, not both"},
	}
	for name, c := range cases {
		_, err := Load(env(c.env), false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows a secret: %v", name, err)
		}
	}
}
