package handlers_test

import (
	"testing"

	"github.com/keyportal/keyportal/handlers/portaltest"
)

// Each row shows its key's id, the handle the balena CLI and the export
// use, in a column of its own.
func TestEachRowShowsItsKeyID(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	p := b.get("/keys")
	rows := p.doc.Find("table.keys tbody tr")
	if rows.Length() == 0 {
		t.Fatal("no rows")
	}
	if got := p.doc.Find("table.keys thead th").Eq(7).Text(); got != "ID" {
		t.Errorf("column 8 is %q, want ID", got)
	}
	for i := range rows.Length() {
		row := rows.Eq(i)
		id, _ := row.Attr("data-key-id")
		if got := row.Find("td.key-id").Text(); got != id {
			t.Errorf("row %s shows id %q", id, got)
		}
	}
}
