package views

import "time"

// Overview is the overview page: what an admin should act on, each number
// a link to the keys view it counts.
type Overview struct {
	Page
	Flash    Flash // an upstream failure
	Failed   bool  // nothing could be read: only the banner shows
	KeysURL  string
	Table    OverviewTable
	Chart    ExpiryChart
	Sections []OverviewSection
}

// OverviewCount is a number and the keys view that lists exactly those keys.
type OverviewCount struct {
	N   int
	URL string
}

// OverviewTable counts the keys by status (rows) and kind (columns).
type OverviewTable struct {
	Kinds []string
	Rows  []OverviewRow
}

// OverviewRow is one status view's counts, a cell per kind.
type OverviewRow struct {
	ID    string // names the row in the page: "never", "expiring-30"
	Label string
	Cells []OverviewCount
}

// RowTotal is the sum of a row's cells, 0 when there is no such row.
func (t OverviewTable) RowTotal(id string) int {
	n := 0
	for _, r := range t.Rows {
		if r.ID == id {
			for _, c := range r.Cells {
				n += c.N
			}
		}
	}
	return n
}

// ExpiryChart is the keys expiring in each of the coming weeks, by kind.
type ExpiryChart struct {
	Kinds []string
	Weeks []ChartWeek
	URL   string // every key of the chart
}

// ChartWeek is one week of the chart: its keys by kind, in Kinds' order.
type ChartWeek struct {
	Start  time.Time // a UTC midnight; the week ends 7 days later
	ByKind []OverviewCount
	Total  OverviewCount
}

// OverviewSection is a list of keys to act on: its count, the view that
// lists them all and perhaps the first few.
type OverviewSection struct {
	Title string
	Empty string // said when there are none
	Note  string // says more about the section, beside its count
	Error string // why its keys could not be read; its link still opens their view
	Count OverviewCount
	Keys  []OverviewKey
}

// OverviewKey is one key of a section and the keys view that shows it.
type OverviewKey struct {
	Row KeyRow
	URL string
}
