// Package config is every setting of the portal, read once at start from
// KEYPORTAL_* environment variables and validated as a whole, so that an
// operator sees every mistake in one go and the rest of the program never
// reads the environment itself.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// validPort reports whether a URL's port, when it has one, is a TCP port:
// a Redis URL with another would fail every connection, which the portal
// would take for a Redis that is away.
func validPort(p string) bool {
	if p == "" {
		return true
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// redisDB is the path of a Redis URL as the Redis client reads it: none,
// or a database number.
var redisDB = regexp.MustCompile(`^(/[0-9]*)?$`)

// Config is every setting of the portal. Load reads it from
// KEYPORTAL_* environment variables; each secret also has a _FILE variant
// that names a file holding it, so secrets need not sit in the environment.
type Config struct {
	Addr            string        // KEYPORTAL_ADDR, host:port to listen on
	BalenaAPIURL    string        // KEYPORTAL_BALENA_API_URL
	DataDir         string        // KEYPORTAL_DATA_DIR, holds the session files
	UpstreamTimeout time.Duration // KEYPORTAL_UPSTREAM_TIMEOUT, per balena call
	IdleTimeout     time.Duration // KEYPORTAL_IDLE_TIMEOUT, a session unused this long ends
	SessionKeys     [][]byte      // KEYPORTAL_SESSION_KEYS(_FILE): newest first, for rotation
	CookieSecure    bool          // KEYPORTAL_COOKIE_SECURE: set behind a TLS proxy
	LogLevel        slog.Level    // KEYPORTAL_LOG_LEVEL: debug, info, warn, error
	LogFormat       string        // KEYPORTAL_LOG_FORMAT: text or json

	// BasePath (KEYPORTAL_BASE_PATH) is the sub-path the portal lives under
	// behind a proxy that shares a host name, e.g. "/keyportal"; empty is
	// the root. Every route, link and cookie is under it.
	BasePath string
	// PublicURL (KEYPORTAL_PUBLIC_URL) is the address users type, e.g.
	// https://tools.example.com/keyportal, without a trailing slash, for
	// links that leave the browser (alerts, exports); its path is BasePath.
	PublicURL string

	// SessionStore is KEYPORTAL_SESSION_STORE(_FILE): empty for files under
	// DataDir, or a redis:// or rediss:// URL that several replicas share.
	SessionStore string
	// TrustedProxies (KEYPORTAL_TRUSTED_PROXIES, comma-separated CIDRs) are
	// the reverse proxies whose X-Forwarded-For names the client; without
	// any, the client is the connection's peer address.
	TrustedProxies []*net.IPNet
	// Sign-in attempts each client address and each account may make
	// (KEYPORTAL_SIGNIN_LIMIT_IP, KEYPORTAL_SIGNIN_LIMIT_ACCOUNT), checked
	// before balena is asked.
	SignInLimitIP      Limit
	SignInLimitAccount Limit

	// AuditFile (KEYPORTAL_AUDIT_FILE), if set, receives every change made
	// through the portal as a JSON line, besides the log.
	AuditFile string
	// DatabaseURL (KEYPORTAL_DATABASE_URL(_FILE)) keeps the audit trail in
	// PostgreSQL, which several replicas share; empty: an SQLite file in
	// DataDir.
	DatabaseURL string
	// AuditRetention (KEYPORTAL_AUDIT_RETENTION) is how long audit events
	// are kept; older ones are deleted daily.
	AuditRetention time.Duration
	// AuditAdmins (KEYPORTAL_AUDIT_ADMINS) are the balena usernames and user
	// ids that see every audit event; others see those of the keys they can
	// see, and their own actions.
	AuditAdmins []string

	// The watcher (KEYPORTAL_WATCH_*) reads the key inventory in the
	// background with WatchToken, a balena API key or session token, every
	// WatchInterval; keys expiring within WatchWarn count as expiring. No
	// token: no watcher.
	WatchToken    string
	WatchInterval time.Duration
	WatchWarn     time.Duration

	// Metrics (KEYPORTAL_METRICS) serves Prometheus metrics at /metrics,
	// only to clients in MetricsAllowedNetworks and, when MetricsUsername is
	// set, with basic auth.
	Metrics                bool
	MetricsAllowedNetworks []*net.IPNet
	MetricsUsername        string
	MetricsPassword        string

	// The lifetime policy (KEYPORTAL_POLICY_*) for keys made or changed
	// through the portal: no expiry later than PolicyMaxLifetime from now
	// (0: no bound; "off" says so explicitly), and a description on every
	// key when PolicyRequireDescription.
	PolicyMaxLifetime        time.Duration
	PolicyRequireDescription bool

	// The digest (KEYPORTAL_DIGEST_*) lists the keys expiring within each
	// of DigestWithin and those expired since the last digest, on
	// DigestSchedule (a cron expression) in DigestTZ, to a webhook and/or
	// by email. It reads keys with WatchToken.
	DigestWithin     []time.Duration // ascending
	DigestSchedule   string
	DigestTZ         *time.Location
	DigestWebhookURL string   // KEYPORTAL_DIGEST_WEBHOOK_URL(_FILE)
	DigestSMTPURL    string   // KEYPORTAL_DIGEST_SMTP_URL(_FILE): smtp:// or smtps://user:pass@host:port
	DigestEmailFrom  string   // KEYPORTAL_DIGEST_EMAIL_FROM
	DigestEmailTo    []string // KEYPORTAL_DIGEST_EMAIL_TO, comma-separated
	DigestSendEmpty  bool     // KEYPORTAL_DIGEST_SEND_EMPTY: send even when nothing is due

	// Demo is set by `keyportal demo`: a missing session key is then generated.
	Demo bool
	// Now is the portal's clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Limit is a number of attempts per period: a burst of N, refilled evenly
// over Per. It reads and prints as "N/period", e.g. "5/15m".
type Limit struct {
	N   int
	Per time.Duration
}

func (l Limit) String() string { return fmt.Sprintf("%d/%s", l.N, l.Per) }

// parseLimit reads "N/period".
func parseLimit(s string) (Limit, error) {
	n, per, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(strings.TrimSpace(n))
	d, derr := time.ParseDuration(strings.TrimSpace(per))
	if !ok || err != nil || derr != nil || count < 1 || d <= 0 {
		return Limit{}, errors.New("want attempts/period such as 5/15m")
	}
	return Limit{N: count, Per: d}, nil
}

// Clock is the portal's time source: Now when a test set it, else the
// wall clock.
func (c *Config) Clock() func() time.Time {
	if c.Now != nil {
		return c.Now
	}
	return time.Now
}

// Default is what Load starts from.
func Default() Config {
	return Config{
		Addr:            "127.0.0.1:8080",
		BalenaAPIURL:    "https://api.balena-cloud.com",
		DataDir:         ".data",
		UpstreamTimeout: 10 * time.Second,
		IdleTimeout:     8 * time.Hour,
		// A person mistyping a password a few times is never stopped; a
		// script guessing is slowed to one try every few minutes per account.
		SignInLimitIP:      Limit{N: 30, Per: 15 * time.Minute},
		SignInLimitAccount: Limit{N: 5, Per: 15 * time.Minute},
		LogLevel:           slog.LevelInfo,
		LogFormat:          "text",
		AuditRetention:     DefaultAuditRetention,
		WatchInterval:      5 * time.Minute,
		WatchWarn:          7 * 24 * time.Hour,
		DigestWithin:       []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour},
		DigestSchedule:     DefaultDigestSchedule,
		DigestTZ:           time.UTC,
		MetricsAllowedNetworks: []*net.IPNet{
			{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
			{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
		},
	}
}

// DefaultMetricsAllowedNetworks is KEYPORTAL_METRICS_ALLOWED_NETWORKS'
// default: the loopback addresses.
const DefaultMetricsAllowedNetworks = "127.0.0.1/8,::1/128"

// DefaultAuditRetention is KEYPORTAL_AUDIT_RETENTION's default, 400 days:
// a year and a margin, so that last year's review can still be checked.
const DefaultAuditRetention = 400 * 24 * time.Hour

// MinAuditRetention is the shortest KEYPORTAL_AUDIT_RETENTION accepted:
// pruning runs daily.
const MinAuditRetention = 24 * time.Hour

// DefaultDigestSchedule is KEYPORTAL_DIGEST_SCHEDULE's default: weekdays
// at 08:00.
const DefaultDigestSchedule = "0 8 * * 1-5"

// DigestEnabled reports whether a digest has somewhere to go.
func (c *Config) DigestEnabled() bool { return c.DigestWebhookURL != "" || c.DigestSMTPURL != "" }

// ParseSchedule reads a cron expression of five fields (minute hour
// day-of-month month day-of-week) or a descriptor such as @daily, as
// KEYPORTAL_DIGEST_SCHEDULE takes it. The time zone is not part of it.
func ParseSchedule(expr string) (cron.Schedule, error) {
	if strings.Contains(expr, "TZ=") {
		return nil, errors.New("give the time zone in KEYPORTAL_DIGEST_TZ, not in the expression")
	}
	return cron.ParseStandard(expr)
}

// MinWatchInterval is the shortest KEYPORTAL_WATCH_INTERVAL accepted.
const MinWatchInterval = 10 * time.Second

// parseWarn reads a window as days ("7d") or a Go duration ("36h").
func parseWarn(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, errors.New("want a positive number of days such as 7d, or a duration such as 36h")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("want a positive number of days such as 7d, or a duration such as 36h")
	}
	return d, nil
}

// MinPolicyMaxLifetime is the shortest KEYPORTAL_POLICY_MAX_LIFETIME
// accepted: a day, the shortest lifetime the forms offer.
const MinPolicyMaxLifetime = 24 * time.Hour

// PolicyOff is the KEYPORTAL_POLICY_MAX_LIFETIME that sets no bound, for
// turning off a default such as the demo's.
const PolicyOff = "off"

// parseNetworks reads comma- or space-separated addresses and CIDRs; a
// bare address is a network of one.
func parseNetworks(name, list string) ([]*net.IPNet, []error) {
	var nets []*net.IPNet
	var errs []error
	for _, v := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		if ip := net.ParseIP(v); ip != nil { // one address
			v = ip.String() + "/" + strconv.Itoa(8*len(ip.To16()))
			if ip.To4() != nil {
				v = ip.String() + "/32"
			}
		}
		_, n, err := net.ParseCIDR(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("KEYPORTAL_%s: %q is not an address or CIDR such as 10.0.0.0/8", name, v))
			continue
		}
		nets = append(nets, n)
	}
	return nets, errs
}

// MinIdleTimeout is the shortest KEYPORTAL_IDLE_TIMEOUT accepted. A
// session records its activity at most once every sixtieth of the idle
// timeout, and at most once a minute; below a minute that would mean a
// session write every second of use, for a timeout no portal needs.
const MinIdleTimeout = time.Minute

// minSessionKey is the shortest session secret accepted: 256 bits.
const minSessionKey = 32

// Load reads the environment through getenv (os.Getenv in main, a map in
// tests) and validates the result. Every problem is reported at once.
func Load(getenv func(string) string, demo bool) (Config, error) {
	cfg := Default()
	cfg.Demo = demo
	var errs []error
	str := func(name string, dst *string) {
		if v := strings.TrimSpace(getenv("KEYPORTAL_" + name)); v != "" {
			*dst = v
		}
	}
	dur := func(name string, dst *time.Duration) {
		v := strings.TrimSpace(getenv("KEYPORTAL_" + name))
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("KEYPORTAL_%s=%q: want a positive duration such as 10s or 8h", name, v))
			return
		}
		*dst = d
	}
	boolean := func(name string, dst *bool) {
		if v := strings.TrimSpace(getenv("KEYPORTAL_" + name)); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("KEYPORTAL_%s=%q: want true or false", name, v))
			}
			*dst = b
		}
	}
	// days reads a window or a lifetime as days ("7d") or a duration; the
	// value off, when given, leaves dst as it is.
	days := func(name, off string, dst *time.Duration) {
		v := strings.TrimSpace(getenv("KEYPORTAL_" + name))
		if v == "" || v == off {
			return
		}
		d, err := parseWarn(v)
		if err != nil {
			if off != "" {
				err = fmt.Errorf("%w, or %s", err, off)
			}
			errs = append(errs, fmt.Errorf("KEYPORTAL_%s=%q: %w", name, v, err))
		}
		*dst = d
	}
	// secretStr reads a value that may be a secret, from NAME or NAME_FILE.
	secretStr := func(name string, dst *string) {
		v, err := secret(getenv, name)
		if err != nil {
			errs = append(errs, err)
		}
		*dst = strings.TrimSpace(v)
	}
	str("ADDR", &cfg.Addr)
	str("BALENA_API_URL", &cfg.BalenaAPIURL)
	str("DATA_DIR", &cfg.DataDir)
	dur("UPSTREAM_TIMEOUT", &cfg.UpstreamTimeout)
	dur("IDLE_TIMEOUT", &cfg.IdleTimeout)
	boolean("COOKIE_SECURE", &cfg.CookieSecure)
	if v := strings.TrimSpace(getenv("KEYPORTAL_LOG_LEVEL")); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("KEYPORTAL_LOG_LEVEL=%q: want debug, info, warn or error", v))
		}
	}
	str("LOG_FORMAT", &cfg.LogFormat)
	str("BASE_PATH", &cfg.BasePath)
	str("PUBLIC_URL", &cfg.PublicURL)
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	str("AUDIT_FILE", &cfg.AuditFile)
	days("AUDIT_RETENTION", "", &cfg.AuditRetention)
	cfg.AuditAdmins = strings.FieldsFunc(getenv("KEYPORTAL_AUDIT_ADMINS"), func(r rune) bool { return r == ',' || r == ' ' })
	secretStr("DATABASE_URL", &cfg.DatabaseURL)
	limit := func(name string, dst *Limit) {
		if v := strings.TrimSpace(getenv("KEYPORTAL_" + name)); v != "" {
			l, err := parseLimit(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("KEYPORTAL_%s=%q: %w", name, v, err))
			}
			*dst = l
		}
	}
	limit("SIGNIN_LIMIT_IP", &cfg.SignInLimitIP)
	limit("SIGNIN_LIMIT_ACCOUNT", &cfg.SignInLimitAccount)
	proxies, perrs := parseNetworks("TRUSTED_PROXIES", getenv("KEYPORTAL_TRUSTED_PROXIES"))
	cfg.TrustedProxies, errs = proxies, append(errs, perrs...)

	secretStr("WATCH_TOKEN", &cfg.WatchToken)
	dur("WATCH_INTERVAL", &cfg.WatchInterval)
	days("WATCH_WARN", "", &cfg.WatchWarn)
	boolean("METRICS", &cfg.Metrics)
	if v := strings.TrimSpace(getenv("KEYPORTAL_METRICS_ALLOWED_NETWORKS")); v != "" {
		nets, nerrs := parseNetworks("METRICS_ALLOWED_NETWORKS", v)
		if len(nets) == 0 && len(nerrs) == 0 {
			nerrs = append(nerrs, errors.New("KEYPORTAL_METRICS_ALLOWED_NETWORKS names no network"))
		}
		cfg.MetricsAllowedNetworks, errs = nets, append(errs, nerrs...)
	}
	days("POLICY_MAX_LIFETIME", PolicyOff, &cfg.PolicyMaxLifetime)
	boolean("POLICY_REQUIRE_DESCRIPTION", &cfg.PolicyRequireDescription)
	str("METRICS_USERNAME", &cfg.MetricsUsername)
	secretStr("METRICS_PASSWORD", &cfg.MetricsPassword)
	if v := strings.TrimSpace(getenv("KEYPORTAL_DIGEST_WITHIN")); v != "" {
		cfg.DigestWithin = nil
		for _, w := range strings.Split(v, ",") {
			d, err := parseWarn(strings.TrimSpace(w))
			if err != nil {
				errs = append(errs, fmt.Errorf("KEYPORTAL_DIGEST_WITHIN=%q: %q: %w", v, w, err))
				continue
			}
			if !slices.Contains(cfg.DigestWithin, d) {
				cfg.DigestWithin = append(cfg.DigestWithin, d)
			}
		}
		slices.Sort(cfg.DigestWithin)
	}
	str("DIGEST_SCHEDULE", &cfg.DigestSchedule)
	if v := strings.TrimSpace(getenv("KEYPORTAL_DIGEST_TZ")); v != "" {
		loc, err := time.LoadLocation(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("KEYPORTAL_DIGEST_TZ=%q: want a time zone such as UTC or Europe/Paris", v))
		} else {
			cfg.DigestTZ = loc
		}
	}
	secretStr("DIGEST_WEBHOOK_URL", &cfg.DigestWebhookURL)
	secretStr("DIGEST_SMTP_URL", &cfg.DigestSMTPURL)
	str("DIGEST_EMAIL_FROM", &cfg.DigestEmailFrom)
	for _, a := range strings.Split(getenv("KEYPORTAL_DIGEST_EMAIL_TO"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.DigestEmailTo = append(cfg.DigestEmailTo, a)
		}
	}
	boolean("DIGEST_SEND_EMPTY", &cfg.DigestSendEmpty)
	secretStr("SESSION_STORE", &cfg.SessionStore)

	keys, err := secret(getenv, "SESSION_KEYS")
	if err != nil {
		errs = append(errs, err)
	}
	for i, k := range strings.Fields(strings.ReplaceAll(keys, ",", " ")) {
		if len(k) < minSessionKey {
			errs = append(errs, fmt.Errorf("KEYPORTAL_SESSION_KEYS: key %d is %d characters; each needs at least %d (try: openssl rand -base64 48)", i+1, len(k), minSessionKey))
			continue
		}
		cfg.SessionKeys = append(cfg.SessionKeys, []byte(k))
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// Variables is every environment variable Load reads, _FILE variants
// included, in the order it reads them. It is learnt by running Load, so
// it cannot drift from it: the README and the deployment recipes are
// checked against it.
func Variables() []string {
	var names []string
	seen := map[string]bool{}
	_, _ = Load(func(name string) string {
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
		return ""
	}, true)
	return names
}

// secret reads KEYPORTAL_<name>, or the file named by KEYPORTAL_<name>_FILE.
func secret(getenv func(string) string, name string) (string, error) {
	v, file := getenv("KEYPORTAL_"+name), getenv("KEYPORTAL_"+name+"_FILE")
	switch {
	case v != "" && file != "":
		return "", fmt.Errorf("set KEYPORTAL_%s or KEYPORTAL_%s_FILE, not both", name, name)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("KEYPORTAL_%s_FILE: %w", name, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return v, nil
}

// CookiePath is the Path of every cookie the portal sets: its base path,
// so that a browser sends them to no other application on the host.
func (c *Config) CookiePath() string {
	if c.BasePath == "" {
		return "/"
	}
	return c.BasePath
}

// validBasePath reports what is wrong with a KEYPORTAL_BASE_PATH, or "".
// It is spelled into every URL and cookie Path, so only plain path
// segments are accepted: no escaping is ever needed.
func validBasePath(p string) string {
	switch {
	case p == "":
		return ""
	case p == "/":
		return "leave it empty to serve at the root"
	case !strings.HasPrefix(p, "/"):
		return "want a path that starts with /, such as /keyportal"
	case strings.HasSuffix(p, "/"):
		return "want no trailing slash, such as /keyportal"
	case path.Clean(p) != p:
		return "want a clean path without // or . or .. segments, such as /keyportal"
	case strings.Trim(p, "/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~") != "":
		return "want only letters, digits, -, ., _, ~ and /, with no query or fragment, such as /keyportal"
	}
	return ""
}

// Validate checks the settings that do not depend on how they were read.
func (c *Config) Validate() error {
	var errs []error
	if msg := validBasePath(c.BasePath); msg != "" {
		errs = append(errs, fmt.Errorf("KEYPORTAL_BASE_PATH=%q: %s", c.BasePath, msg))
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
			errs = append(errs, fmt.Errorf("KEYPORTAL_PUBLIC_URL=%q: want the http(s) address users type, such as https://tools.example.com/keyportal", c.PublicURL))
		case strings.TrimSuffix(u.EscapedPath(), "/") != c.BasePath:
			errs = append(errs, fmt.Errorf("KEYPORTAL_PUBLIC_URL=%q and KEYPORTAL_BASE_PATH=%q disagree: the URL's path must be the base path (%q)", c.PublicURL, c.BasePath, c.BasePath))
		}
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("KEYPORTAL_ADDR=%q: want host:port, e.g. 127.0.0.1:8080", c.Addr))
	}
	if u, err := url.Parse(c.BalenaAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("KEYPORTAL_BALENA_API_URL=%q: want an http(s) URL such as https://api.balena-cloud.com", c.BalenaAPIURL))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("KEYPORTAL_DATA_DIR is empty"))
	}
	if c.IdleTimeout > 0 && c.IdleTimeout < MinIdleTimeout {
		errs = append(errs, fmt.Errorf("KEYPORTAL_IDLE_TIMEOUT=%s: want at least %s; the portal records that a session is in use about once a minute, so a shorter timeout would sign out people while they use it", c.IdleTimeout, MinIdleTimeout))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("KEYPORTAL_LOG_FORMAT=%q: want text or json", c.LogFormat))
	}
	if c.SessionStore != "" {
		// The URL may hold a password: name only its scheme.
		// A database other than a number would fail every connection, which
		// the portal would take for a Redis that is away.
		if u, err := url.Parse(c.SessionStore); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" || !redisDB.MatchString(u.Path) || !validPort(u.Port()) {
			errs = append(errs, errors.New("KEYPORTAL_SESSION_STORE: want empty (files under KEYPORTAL_DATA_DIR) or a redis:// or rediss:// URL such as redis://:password@redis:6379/0"))
		}
	}
	if c.DatabaseURL != "" {
		// The URL may hold a password: name only its scheme.
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			errs = append(errs, errors.New("KEYPORTAL_DATABASE_URL: want empty (SQLite under KEYPORTAL_DATA_DIR) or a postgres:// URL such as postgres://keyportal:password@db:5432/keyportal"))
		}
	}
	if c.AuditRetention > 0 && c.AuditRetention < MinAuditRetention {
		errs = append(errs, fmt.Errorf("KEYPORTAL_AUDIT_RETENTION=%s: want at least a day (1d)", c.AuditRetention))
	}
	if c.WatchToken != "" && c.WatchInterval > 0 && c.WatchInterval < MinWatchInterval {
		errs = append(errs, fmt.Errorf("KEYPORTAL_WATCH_INTERVAL=%s: want at least %s; every refresh costs balena a dozen calls", c.WatchInterval, MinWatchInterval))
	}
	if c.PolicyMaxLifetime > 0 && c.PolicyMaxLifetime < MinPolicyMaxLifetime {
		errs = append(errs, fmt.Errorf("KEYPORTAL_POLICY_MAX_LIFETIME=%s: want at least 1d; the shortest lifetime the portal offers is a day", c.PolicyMaxLifetime))
	}
	if (c.MetricsUsername == "") != (c.MetricsPassword == "") {
		errs = append(errs, errors.New("KEYPORTAL_METRICS_USERNAME and KEYPORTAL_METRICS_PASSWORD (or _FILE) go together: set both for basic auth on /metrics, or neither"))
	}
	if _, err := ParseSchedule(c.DigestSchedule); err != nil {
		errs = append(errs, fmt.Errorf("KEYPORTAL_DIGEST_SCHEDULE=%q: want a cron expression of five fields (minute hour day-of-month month day-of-week) such as %q, or @daily: %v", c.DigestSchedule, DefaultDigestSchedule, err))
	}
	if c.DigestWebhookURL != "" {
		// It may hold a token in its path: name only what is wrong.
		if u, err := url.Parse(c.DigestWebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, errors.New("KEYPORTAL_DIGEST_WEBHOOK_URL: want an http(s) URL, such as a Slack, Mattermost or Rocket.Chat incoming webhook"))
		}
	}
	if c.DigestSMTPURL != "" {
		if u, err := url.Parse(c.DigestSMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			errs = append(errs, errors.New("KEYPORTAL_DIGEST_SMTP_URL: want smtp://user:password@host:port (STARTTLS when offered) or smtps://user:password@host:port (TLS)"))
		}
		if _, err := mail.ParseAddress(c.DigestEmailFrom); err != nil {
			errs = append(errs, fmt.Errorf("KEYPORTAL_DIGEST_EMAIL_FROM=%q: want the sender's address, such as keyportal@example.com", c.DigestEmailFrom))
		}
		if len(c.DigestEmailTo) == 0 {
			errs = append(errs, errors.New("KEYPORTAL_DIGEST_EMAIL_TO is required with KEYPORTAL_DIGEST_SMTP_URL: one or more addresses, comma-separated"))
		}
		for _, a := range c.DigestEmailTo {
			if _, err := mail.ParseAddress(a); err != nil {
				errs = append(errs, fmt.Errorf("KEYPORTAL_DIGEST_EMAIL_TO: %q is not an email address", a))
			}
		}
	}
	if c.DigestEnabled() {
		if c.WatchToken == "" {
			errs = append(errs, errors.New("KEYPORTAL_WATCH_TOKEN (or _FILE) is required for the digest (KEYPORTAL_DIGEST_WEBHOOK_URL or KEYPORTAL_DIGEST_SMTP_URL): the digest reads keys with it"))
		}
		if c.PublicURL == "" && !c.Demo {
			errs = append(errs, errors.New("KEYPORTAL_PUBLIC_URL is required for the digest: its links lead to the portal at that address, such as https://keys.example.com"))
		}
	}
	if len(c.SessionKeys) == 0 && !c.Demo {
		errs = append(errs, errors.New("KEYPORTAL_SESSION_KEYS (or KEYPORTAL_SESSION_KEYS_FILE) is required: one or more secrets of at least 32 characters, newest first (try: openssl rand -base64 48)"))
	}
	return errors.Join(errs...)
}
