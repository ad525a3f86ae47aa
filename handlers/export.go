package handlers

import (
	"encoding/csv"
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"
)

// exportFormat is the export's format=csv|json.
func exportFormat(c echo.Context) (string, error) {
	format := c.QueryParam("format")
	if format != "csv" && format != "json" {
		return "", echo.NewHTTPError(http.StatusBadRequest, "Export as format=csv or format=json.")
	}
	return format, nil
}

// exportStream writes a download as CSV or as one JSON array, a row at a
// time, so that memory stays flat however many rows: the keys export and
// the audit export both stream page after page through it.
type exportStream struct {
	format string
	w      *echo.Response
	csv    *csv.Writer
	first  bool
}

// startExport sends the headers of the download name.format, then the CSV
// header row or the JSON array's opening.
func startExport(c echo.Context, format, name string, header []string) *exportStream {
	w := c.Response()
	w.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+"."+format+`"`)
	w.Header().Set(echo.HeaderContentType, map[string]string{"csv": "text/csv; charset=utf-8", "json": echo.MIMEApplicationJSON}[format])
	w.WriteHeader(http.StatusOK)
	s := &exportStream{format: format, w: w, csv: csv.NewWriter(w), first: true}
	if format == "csv" {
		_ = s.csv.Write(header)
	} else {
		_, _ = w.Write([]byte("[\n"))
	}
	return s
}

// row writes one row: cells() in CSV (only called then), v in JSON.
func (s *exportStream) row(cells func() []string, v any) {
	if s.format == "csv" {
		_ = s.csv.Write(cells())
		return
	}
	b, _ := json.Marshal(v)
	if !s.first {
		_, _ = s.w.Write([]byte(",\n"))
	}
	s.first = false
	_, _ = s.w.Write(b)
}

// flush sends the rows written so far, after each page.
func (s *exportStream) flush() {
	s.csv.Flush()
	s.w.Flush()
}

// end closes the JSON array.
func (s *exportStream) end() {
	s.flush()
	if s.format == "json" {
		_, _ = s.w.Write([]byte("\n]\n"))
	}
}
