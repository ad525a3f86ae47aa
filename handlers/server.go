package handlers

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/klauspost/compress/gzhttp"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/audit"
	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/internal/digest"
	"github.com/keyportal/keyportal/internal/metrics"
	"github.com/keyportal/keyportal/internal/session"
	"github.com/keyportal/keyportal/internal/watch"
	"github.com/keyportal/keyportal/static"
	"github.com/keyportal/keyportal/views"
)

// Server is the portal as an http.Handler.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	echo     *echo.Echo
	handler  http.Handler // echo, compressed
	balena   *apiclient.Client
	sessions *session.Store
	throttle *signInThrottle
	trail    *apikeys.LogTrail
	auditDB  *audit.Store // the audit trail's database: the /audit page reads it
	rules    keyRules
	now      func() time.Time
	metrics  *metrics.Metrics // nil unless KEYPORTAL_METRICS
	watcher  *watch.Watcher   // nil unless KEYPORTAL_WATCH_TOKEN
	digest   *digest.Service  // nil unless KEYPORTAL_WATCH_TOKEN
	ledger   digest.Ledger    // the digest's, nil with it
	// paths and slotPaths are the routes' paths without parameters and
	// with idSlot as their one, by name (see url).
	paths, slotPaths map[string]string
}

// New wires the router. log receives request logs and errors; it never
// receives a token.
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	// A registry of the server's own, so that several portals can run in one
	// process (tests) without sharing figures.
	var m *metrics.Metrics
	opts := apiclient.Options{BaseURL: cfg.BalenaAPIURL, Timeout: cfg.UpstreamTimeout}
	if cfg.Metrics {
		m = metrics.New()
		opts.Observe = m.ObserveBalena
	}
	balena, err := apiclient.New(opts)
	if err != nil {
		return nil, fmt.Errorf("balena client: %w", err)
	}
	sessions, err := session.New(cfg, log)
	if err != nil {
		return nil, err
	}
	trail, err := apikeys.OpenLogTrail(log, cfg.AuditFile)
	if err != nil {
		return nil, errors.Join(err, sessions.Close())
	}
	// The first try to reach the audit database and migrate it; a
	// PostgreSQL that does not answer within it leaves the portal serving,
	// not ready, with the store trying again in the background. Only a
	// setting that no retry would mend stops the start.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	auditDB, err := audit.Open(ctx, audit.Options{URL: cfg.DatabaseURL, Dir: cfg.DataDir, Log: log, Now: cfg.Clock()})
	if err != nil {
		setting := fmt.Sprintf("KEYPORTAL_DATA_DIR=%q", cfg.DataDir)
		if cfg.DatabaseURL != "" {
			setting = "KEYPORTAL_DATABASE_URL" // not its value, which may hold a password
		}
		return nil, errors.Join(fmt.Errorf("%s: %w", setting, err), sessions.Close(), trail.Close())
	}
	auditDB.PruneEvery(cfg.AuditRetention, 24*time.Hour)
	s := &Server{cfg: cfg, log: log, balena: balena, sessions: sessions, now: cfg.Clock(), trail: trail, auditDB: auditDB,
		rules: apikeys.New(cfg.Clock(), apikeys.Recorders{trail, auditDB}).WithPolicy(apikeys.Policy{MaxLifetime: cfg.PolicyMaxLifetime, RequireDescription: cfg.PolicyRequireDescription}), throttle: newSignInThrottle(cfg.SignInLimitIP, cfg.SignInLimitAccount, cfg.Clock()), metrics: m}
	if cfg.WatchToken != "" {
		s.watcher = watch.New(balena, cfg.WatchToken, cfg.WatchWarn, cfg.Clock(), log)
		if m != nil {
			m.Watch(s.watcher)
		}
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = clientIP(cfg)
	if m != nil {
		e.Use(measure(m, cfg.BasePath)) // outermost, so that it sees the final status
	}
	base := cfg.BasePath
	e.Pre(middleware.RemoveTrailingSlashWithConfig(middleware.TrailingSlashConfig{RedirectCode: http.StatusMovedPermanently,
		// A proxy forwarding /keyportal/* sends the portal's own root as
		// /keyportal/: it is answered, not sent to /keyportal, which such a
		// proxy may not forward. A path outside the base path is a 404, not
		// a redirect.
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return p == base+"/" || !strings.HasPrefix(p, base+"/")
		}}))
	e.Use(
		middleware.RequestID(),
		s.requestLog(),
		middleware.Recover(),
		securityHeaders(cfg.CookieSecure, base),
		withBasePath(base),
		middleware.BodyLimit("64K"),
	)
	s.echo = e
	// Compression wraps the router from outside: klauspost's gzhttp takes a
	// compressor only when the first bytes of a large enough body are
	// written, so requests waiting on balena hold none (Echo's Gzip took one,
	// about 800 KB, for a request's whole life), and its level-1 deflate is
	// much cheaper than the standard library's default level. Its zstd
	// (which Chromium asks for first) stays off: for our pages it saves a
	// fifth of the bytes but costs a quarter more CPU than level-1 gzip,
	// and bytes are not what a page on an internal network is short of.
	//
	// Pages carry the CSRF token next to text from the URL (the search
	// box), the recipe of compression-oracle attacks (BREACH); padding that
	// depends on the page's first 4 KB, where both are, hides the length
	// such attacks read.
	gz, err := gzhttp.NewWrapper(gzhttp.MinSize(1024), gzhttp.CompressionLevel(gzip.BestSpeed), gzhttp.EnableZstd(false),
		gzhttp.RandomJitter(32, 4096, false))
	if err != nil {
		return nil, errors.Join(err, s.Close(context.Background()))
	}
	s.handler = gz(e)

	// Everything lives under KEYPORTAL_BASE_PATH, probes and metrics too: a
	// proxy that forwards only that prefix reaches all of it, and nothing is
	// served to a request outside it (a 404).
	root := e.Group(base)
	// Outside sign-in: probes and static files.
	health{balena: balena, sessions: sessions, audit: auditDB}.routes(root)
	root.GET(static.Prefix+"*", echo.WrapHandler(http.StripPrefix(base, static.Handler())))
	if m != nil {
		root.GET("/metrics", echo.WrapHandler(m.Handler()), metricsGuard(cfg))
	} else {
		// Off: say so plainly rather than send a scraper to sign in.
		root.GET("/metrics", func(c echo.Context) error {
			return c.String(http.StatusNotFound, "Not Found: metrics are off (KEYPORTAL_METRICS).\n")
		})
	}

	app := root.Group("", csrfProtection(cfg), s.loadSession)
	signin{s}.routes(app)
	signedIn := app.Group("", s.requireUser)
	signin{s}.signedInRoutes(signedIn)
	newKeys(s).routes(signedIn)
	newAuditPage(s).routes(signedIn)
	home := func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, s.url(routeKeys)) }
	root.GET("/", home)
	if base != "" {
		root.GET("", home)
	}
	if cfg.WatchToken != "" {
		if err := s.newDigest(balena); err != nil {
			return nil, errors.Join(err, s.Close(context.Background()))
		}
		if m != nil && cfg.DigestEnabled() {
			m.Digest(s.digest, s.now)
		}
	}
	s.paths, s.slotPaths = routePaths(e)
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close releases what the server holds: the session store's connections
// and its sweeper, the audit file and database.
func (s *Server) Close(ctx context.Context) error {
	var ledger error
	if s.ledger != nil {
		ledger = s.ledger.Close()
	}
	return errors.Join(s.sessions.Close(), s.trail.Close(), s.auditDB.Close(), ledger)
}

// withBasePath tells the views the base path, for the URLs of static files.
func withBasePath(base string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if base == "" {
			return next
		}
		return func(c echo.Context) error {
			r := c.Request()
			c.SetRequest(r.WithContext(views.WithBasePath(r.Context(), base)))
			return next(c)
		}
	}
}

// routePaths reverses, once, every route name that names one path: those
// without parameters, and those with one, with idSlot. (Echo names a route
// without a name after its handler, which several paths may share.)
func routePaths(e *echo.Echo) (paths, slotPaths map[string]string) {
	pathOf := map[string]string{}
	for _, r := range e.Routes() {
		if p, seen := pathOf[r.Name]; seen && p != r.Path {
			pathOf[r.Name] = "" // ambiguous: left to Reverse
		} else if !seen {
			pathOf[r.Name] = r.Path
		}
	}
	paths, slotPaths = map[string]string{}, map[string]string{}
	for name, p := range pathOf {
		switch {
		case p == "":
		case strings.Count(p, ":")+strings.Count(p, "*") == 0:
			paths[name] = e.Reverse(name)
		case strings.Count(p, ":")+strings.Count(p, "*") == 1:
			slotPaths[name] = e.Reverse(name, idSlot)
		}
	}
	return paths, slotPaths
}

// url is the path of a named route, under the base path. Echo's Reverse
// walks every route, and a keys page asks for some twenty paths: those
// without parameters and the rows' idSlot ones come from tables New fills
// once the routes are set.
func (s *Server) url(name string, params ...any) string {
	switch {
	case len(params) == 0:
		if p, ok := s.paths[name]; ok {
			return p
		}
	case len(params) == 1 && params[0] == any(idSlot):
		if p, ok := s.slotPaths[name]; ok {
			return p
		}
	}
	return s.echo.Reverse(name, params...)
}

// requestLog writes one slog line per request. The query string is left
// out: it is the user's filter text, and nothing secret ever travels in a
// URL, but a short log line is easier to read.
func (s *Server) requestLog() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogMethod: true, LogURIPath: true, LogRoutePath: true,
		LogLatency: true, LogRequestID: true, LogError: true, HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			switch {
			case v.Status == http.StatusServiceUnavailable && v.RoutePath == s.url(routeReady):
				// Probed every few seconds: the store that is away says
				// so once, when it goes and when it comes back.
				level = slog.LevelDebug
			case v.Status >= 500:
				level = slog.LevelError
			case v.Status >= 400:
				level = slog.LevelWarn
			}
			attrs := []slog.Attr{
				slog.String("id", v.RequestID),
				slog.String("method", v.Method),
				// The browser's address: the peer, or behind
				// KEYPORTAL_TRUSTED_PROXIES the one they forwarded.
				slog.String("client", c.RealIP()),
				slog.String("path", v.URIPath),
				slog.String("route", v.RoutePath),
				slog.Int("status", v.Status),
				slog.Duration("duration", v.Latency),
			}
			if v.Error != nil {
				attrs = append(attrs, slog.String("error", v.Error.Error()))
			}
			s.log.LogAttrs(c.Request().Context(), level, "request", attrs...)
			return nil
		},
	})
}
