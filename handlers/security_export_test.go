package handlers

import "github.com/labstack/echo/v4"

// RoutesOf lists every route of s, for tests that must cover all of them.
func RoutesOf(s *Server) []*echo.Route { return s.echo.Routes() }
