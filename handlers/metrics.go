package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/internal/metrics"
	"github.com/keyportal/keyportal/internal/watch"
	"github.com/keyportal/keyportal/views"
)

// Watcher is the server's key watcher, nil when KEYPORTAL_WATCH_TOKEN is
// not set. Tests call its Refresh; RunWatcher refreshes it on a ticker.
func (s *Server) Watcher() *watch.Watcher { return s.watcher }

// RunWatcher refreshes the watcher now and every KEYPORTAL_WATCH_INTERVAL
// until ctx ends; it returns at once when there is no watcher.
func (s *Server) RunWatcher(ctx context.Context) {
	if s.watcher != nil {
		s.watcher.Run(ctx, s.cfg.WatchInterval)
	}
}

// alertsLine says on the keys page, in one line, whether expiry alerts
// are configured and when the next digest goes out; it names no token,
// destination or address.
func (s *Server) alertsLine() views.Alerts {
	if s.watcher == nil {
		return views.Alerts{Text: "Expiry alerts are not configured."}
	}
	a := views.Alerts{Text: "Expiry alerts are on: keys are checked every " + apikeys.Span(s.cfg.WatchInterval) +
		" and count as expiring " + apikeys.Span(s.watcher.Warn()) + " before they expire."}
	if s.digest != nil && s.cfg.DigestEnabled() {
		now := s.now()
		a.NextDigest = views.TimeAt(s.digest.Next(now), now)
	}
	return a
}

// measure records every request by its route template (never a path with
// ids, nor a query) and final status.
func measure(m *metrics.Metrics, base string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			code := c.Response().Status
			if err != nil && !c.Response().Committed {
				code = http.StatusInternalServerError
				var he *echo.HTTPError
				if errors.As(err, &he) {
					code = he.Code
				}
			}
			route := c.Path()
			if route == "" || code == http.StatusNotFound && route == base+"/*" {
				route = "unmatched"
			}
			m.ObserveHTTP(route, code, time.Since(start))
			return err
		}
	}
}

// metricsGuard answers /metrics only to KEYPORTAL_METRICS_ALLOWED_NETWORKS
// (by the client address clientIP gives: the peer, or behind trusted
// proxies the forwarded one) and, when a username is set, with basic auth.
func metricsGuard(cfg config.Config) echo.MiddlewareFunc {
	user, pass := sha256.Sum256([]byte(cfg.MetricsUsername)), sha256.Sum256([]byte(cfg.MetricsPassword))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ip := net.ParseIP(c.RealIP())
			if ip == nil || !slices.ContainsFunc(cfg.MetricsAllowedNetworks, func(n *net.IPNet) bool { return n.Contains(ip) }) {
				return c.String(http.StatusForbidden, "Forbidden: this address may not read the metrics.\n")
			}
			if cfg.MetricsUsername != "" {
				u, p, ok := c.Request().BasicAuth()
				gotU, gotP := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
				if !ok || subtle.ConstantTimeCompare(gotU[:], user[:])&subtle.ConstantTimeCompare(gotP[:], pass[:]) != 1 {
					c.Response().Header().Set("WWW-Authenticate", `Basic realm="keyportal metrics", charset="UTF-8"`)
					return c.String(http.StatusUnauthorized, "Unauthorized\n")
				}
			}
			c.Response().Header().Set("Cache-Control", "no-store")
			return next(c)
		}
	}
}
