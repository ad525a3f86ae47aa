package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/session"
)

// health serves the probes an orchestrator polls; they need no sign-in.
type health struct {
	balena   *apiclient.Client
	sessions *session.Store
	audit    interface{ Ping(context.Context) error }
}

func (h health) routes(e *echo.Group) {
	e.GET("/healthz", h.alive)
	e.GET("/readyz", h.ready).Name = routeReady
}

// alive answers as long as the process serves requests.
func (h health) alive(c echo.Context) error { return c.String(http.StatusOK, "ok\n") }

// ready answers 200 only while balena, the session store and the audit
// database answer, so a
// load balancer stops sending people to a portal that cannot serve them.
func (h health) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	if err := h.sessions.Ping(ctx); err != nil {
		return c.String(http.StatusServiceUnavailable, "session store unreachable\n")
	}
	if err := h.audit.Ping(ctx); err != nil {
		return c.String(http.StatusServiceUnavailable, "audit database unreachable\n")
	}
	if err := h.balena.Ping(ctx); err != nil {
		return c.String(http.StatusServiceUnavailable, "balena API unreachable\n")
	}
	return c.String(http.StatusOK, "ok\n")
}
