package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
)

// exportPage is how many keys each upstream call of an export fetches.
const exportPage = 500

// exportURL is the export of the view f in format.
func (h keys) exportURL(f keyFilter, format string) string {
	v := f.Values()
	v.Del("page")
	v.Del("per_page")
	v.Set("format", format)
	return h.url(routeKeyExport) + "?" + v.Encode()
}

// exportRow is one key as exported: never a secret, which balena does not
// hand out anyway.
type exportRow struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	Kind        string     `json:"kind"`
	Owner       string     `json:"owner"`
	Description string     `json:"description"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiryDate  *time.Time `json:"expiry_date"`
	Status      string     `json:"status"`
	// LastSeen is a device key's device's last contact: "online", an
	// RFC 3339 time, "never", or "" (null in JSON) for other kinds.
	LastSeen *string `json:"last_seen"`
}

// export streams every key of the view, all pages, as CSV or JSON, one
// upstream page at a time so that memory stays flat however many keys.
func (h keys) export(c echo.Context) error {
	format, err := exportFormat(c)
	if err != nil {
		return err
	}
	f := h.filter(c.QueryParams())
	if err := apikeys.Invalid(f.Errors); err != nil {
		return err
	}
	q := f.Query()
	q.Top, q.Skip = exportPage, 0
	api := h.api(c)
	ctx := c.Request().Context()
	now := h.now()

	// The first page is fetched before anything is written, so that a
	// failure can still be an error page.
	page, err := api.ListKeys(ctx, q)
	if err != nil {
		return err
	}
	out := startExport(c, format, "keys-"+now.UTC().Format("20060102-150405"),
		[]string{"id", "name", "kind", "owner", "description", "created_at", "expiry_date", "status", "last_seen"})
	for {
		for _, k := range page.Keys {
			row := toExportRow(k, now)
			out.row(func() []string {
				exp, seen := "", ""
				if row.ExpiryDate != nil {
					exp = row.ExpiryDate.Format(time.RFC3339)
				}
				if row.LastSeen != nil {
					seen = *row.LastSeen
				}
				return []string{strconv.FormatInt(row.ID, 10), safeCell(row.Name), row.Kind, safeCell(row.Owner),
					safeCell(row.Description), row.CreatedAt.Format(time.RFC3339), exp, row.Status, seen}
			}, row)
		}
		out.flush()
		q.Skip += len(page.Keys)
		if len(page.Keys) == 0 || q.Skip >= page.Total {
			break
		}
		if page, err = api.ListKeys(ctx, q); err != nil {
			// Headers are gone; a truncated file must not look complete.
			h.log.Warn("export stopped", "error", err, "after", q.Skip)
			panic(http.ErrAbortHandler)
		}
	}
	out.end()
	return nil
}

func toExportRow(k apiclient.APIKey, now time.Time) exportRow {
	v := apikeys.ViewOf(k, apiclient.Identity{}, now)
	var exp *time.Time
	if v.ExpiryDate != nil {
		e := v.ExpiryDate.UTC()
		exp = &e
	}
	row := exportRow{ID: v.ID, Name: v.Name, Kind: string(v.Kind), Owner: apikeys.Owner(k), Description: v.Description,
		CreatedAt: v.CreatedAt.UTC(), ExpiryDate: exp, Status: string(v.Status)}
	if l := v.LastSeen; l.Device {
		seen := "never"
		switch {
		case l.Online:
			seen = "online"
		case l.At != nil:
			seen = l.At.UTC().Format(time.RFC3339)
		}
		row.LastSeen = &seen
	}
	return row
}

// safeCell keeps a spreadsheet from running text that starts like a
// formula (CSV injection): such a cell gets a leading apostrophe.
func safeCell(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}
