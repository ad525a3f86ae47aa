package handlers

import "github.com/labstack/echo/v4"

// RoutesOf lists every route of s, for tests that must cover all of them.
func RoutesOf(s *Server) []*echo.Route { return s.echo.Routes() }

// URLOf is s.url, and ReverseOf what Echo itself reverses, for tests that
// check the one against the other.
func URLOf(s *Server, name string, params ...any) string { return s.url(name, params...) }

func ReverseOf(s *Server, name string, params ...any) string { return s.echo.Reverse(name, params...) }

// IDSlot is the row templates' placeholder for a key's id.
const IDSlot = idSlot
