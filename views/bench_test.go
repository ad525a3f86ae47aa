package views

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// benchResults is a 50-row page shaped like the bench's main view.
func benchResults() KeyResults {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	r := KeyResults{Total: 1000, From: 1, To: 50, Page: 1, Pages: 20, NextURL: "/keys?kind=user&page=2&sort=name&status=active",
		CSRF: "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4", Return: "/keys?kind=user&sort=name&status=active", BulkURL: "/keys/bulk",
		ExportCSV: "/keys/export?format=csv&kind=user", ExportJSON: "/keys/export?format=json&kind=user", CanChange: true,
		Menu: RowMenu{EditURL: "/keys/{id}/edit?return=%2Fkeys", RotateURL: "/keys/{id}/rotate?return=%2Fkeys", RevokeURL: "/keys/{id}/revoke?return=%2Fkeys",
			ExpireURL: "/keys/{id}/expire", ClearURL: "/keys/{id}/expiry"}}
	for _, label := range []string{"Name", "Kind", "Owner", "Description", "Created", "Expires", "Last seen", "ID", "Actions"} {
		r.Columns = append(r.Columns, Column{Label: label, SortURL: "/keys?sort=" + label})
	}
	for i := range 50 {
		created, expires := now.AddDate(0, -i, 0), now.AddDate(0, i, 3)
		id := strconv.Itoa(20000 + i*7)
		r.Rows = append(r.Rows, KeyRow{ID: int64(20000 + i*7), Name: "alpha admin key " + id, Kind: "user", Owner: "you", OwnerDetail: "admin",
			Description: "Generated for tango", Created: RelTime(created, now), CreatedISO: created.Format(time.RFC3339),
			Expires: RelTime(expires, now), ExpiresISO: expires.Format(time.RFC3339), ExpiryState: "active", LastSeen: "–", LastSeenState: "none",
			ActionsURL: "/keys/" + id + "/actions?return=%2Fkeys%3Fkind%3Duser%26sort%3Dname%26status%3Dactive",
			URL:        "/keys/" + id + "?return=%2Fkeys%3Fkind%3Duser%26sort%3Dname%26status%3Dactive"})
	}
	return r
}

// BenchmarkKeyResults renders the table fragment of 50 rows, and then
// gzips it as the server does (level 1), to show where a page's own
// CPU goes.
func BenchmarkKeyResults(b *testing.B) {
	r := benchResults()
	var buf bytes.Buffer
	b.Run("render", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := KeyResultsFragment(r).Render(context.Background(), &buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	})
	html := bytes.Clone(buf.Bytes())
	// The server's level, and gzip's default for the trade of CPU against
	// bytes.
	for _, l := range []struct {
		name  string
		level int
	}{{"gzip", gzip.BestSpeed}, {"gzip-default", gzip.DefaultCompression}} {
		b.Run(l.name, func(b *testing.B) {
			b.ReportAllocs()
			var out bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&out, l.level)
			for b.Loop() {
				out.Reset()
				zw.Reset(&out)
				_, _ = zw.Write(html)
				_ = zw.Close()
			}
			b.ReportMetric(float64(out.Len()), "gzip-bytes")
		})
	}
}
