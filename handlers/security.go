package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/keyportal/keyportal/internal/config"
	"github.com/keyportal/keyportal/views"
)

// csrfCookie holds the CSRF token that forms and htmx send back.
const csrfCookie = "keyportal_csrf"

// securityHeaders sets the headers every response carries, and a fresh CSP
// nonce that templ writes onto the page's script and style tags. The policy
// allows no inline code at all: htmx is configured through a meta tag.
//
// HSTS covers the host's subdomains only when the portal has the host to
// itself: under a base path (tools.example.com/keyportal) it shares the
// host, and must not decide for two years what every subdomain of it
// serves.
func securityHeaders(tls bool, basePath string) echo.MiddlewareFunc {
	hsts := "max-age=63072000; includeSubDomains"
	if basePath != "" {
		hsts = "max-age=63072000"
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			nonce := newNonce()
			h := c.Response().Header()
			h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self' 'nonce-"+nonce+"'; "+
				"style-src 'self' 'nonce-"+nonce+"'; img-src 'self' data:; connect-src 'self'; font-src 'self'; "+
				"form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()")
			if tls || c.IsTLS() {
				h.Set("Strict-Transport-Security", hsts)
			}
			r := c.Request()
			c.SetRequest(r.WithContext(templ.WithNonce(r.Context(), nonce)))
			return next(c)
		}
	}
}

func newNonce() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawStdEncoding.EncodeToString(b)
}

// csrfProtection refuses a state-changing request that lacks the token of
// its browser's CSRF cookie (header X-CSRF-Token from htmx, field _csrf
// from a plain form), and, through Echo's Sec-Fetch-Site check, any
// cross-site one. The refusal is a 403 before any handler or balena call.
func csrfProtection(cfg config.Config) echo.MiddlewareFunc {
	return middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "header:" + views.CSRFHeader + ",form:" + views.CSRFField,
		CookieName:     csrfCookie,
		CookiePath:     cfg.CookiePath(),
		CookieHTTPOnly: true,
		CookieSecure:   cfg.CookieSecure,
		CookieSameSite: http.SameSiteLaxMode,
		ContextKey:     ctxCSRF,
		// Echo answers 400 for a missing token and 403 for a wrong one; to
		// the user both mean the same, and both are a refusal.
		ErrorHandler: func(error, echo.Context) error { return errCSRF() },
		// A browser that says the request is cross-site is refused outright;
		// same-site (another port or subdomain) must show the token.
		AllowSecFetchSiteFunc: func(c echo.Context) (bool, error) {
			if c.Request().Header.Get(echo.HeaderSecFetchSite) == "same-site" {
				return false, nil
			}
			return false, errCSRF()
		},
	})
}

func errCSRF() error {
	return echo.NewHTTPError(http.StatusForbidden, "This form has expired or came from another site. Go back, reload the page and try again.")
}

// clientIP is how the portal tells clients apart, for the sign-in limits:
// the connection's peer, or, behind the configured proxies only, the
// address they put in X-Forwarded-For. A client cannot pick its own.
func clientIP(cfg config.Config) echo.IPExtractor {
	if len(cfg.TrustedProxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range cfg.TrustedProxies {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
