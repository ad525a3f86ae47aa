package handlers

import "github.com/labstack/echo/v4"

// htmx request and response headers (https://htmx.org/reference/).
const (
	hxRequest        = "HX-Request"
	hxBoosted        = "HX-Boosted"
	hxHistoryRestore = "HX-History-Restore-Request"
	hxPushURL        = "HX-Push-Url"
	hxRedirect       = "HX-Redirect"
	hxRetarget       = "HX-Retarget"
	hxReswap         = "HX-Reswap"
)

// isHTMX reports whether htmx asked for a fragment. A boosted link and a
// history restore want the whole page.
func isHTMX(c echo.Context) bool {
	h := c.Request().Header
	return h.Get(hxRequest) == "true" && h.Get(hxBoosted) != "true" && h.Get(hxHistoryRestore) != "true"
}
