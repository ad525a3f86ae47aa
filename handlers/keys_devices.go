package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/views"
)

// maxDeviceOptions bounds the suggestions: enough to pick from while
// typing, few enough for one quick query in a fleet of thousands.
const maxDeviceOptions = 20

// deviceOptions suggests devices for the create form's device field as
// the user types (htmx): those whose uuid starts with the text or whose
// name contains it. Without JavaScript the field takes a uuid as typed.
func (h keys) deviceOptions(c echo.Context) error {
	q := strings.TrimSpace(c.QueryParam("device"))
	if !isHTMX(c) {
		return c.Redirect(http.StatusSeeOther, h.url(routeKeyNew)+"?"+url.Values{"kind": {"device"}, "device": {q}}.Encode())
	}
	var opts []views.DeviceOption
	if n := utf8.RuneCountInString(q); n >= 2 && n <= 62 {
		devs, err := h.api(c).SearchDevices(c.Request().Context(), q, maxDeviceOptions)
		if err != nil {
			return err
		}
		// Fleet names when the pickers' list is at hand; no call for them.
		slugs := map[int64]string{}
		if fleets, ok := h.fleetCache.cached(currentUser(c).Token); ok {
			for _, f := range fleets {
				slugs[f.ID] = f.Slug
			}
		}
		for _, d := range devs {
			label := d.DeviceName
			if s := slugs[d.FleetID]; s != "" {
				label += " · " + s
			}
			opts = append(opts, views.DeviceOption{UUID: d.UUID, Label: label})
		}
	}
	return render(c, http.StatusOK, views.DeviceOptions(opts))
}
