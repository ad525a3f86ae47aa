package views

import (
	"testing"
	"time"
)

// The count axis ends on a round number whose half is round too, at or
// above the tallest bar.
func TestNiceMax(t *testing.T) {
	for most, want := range map[int]int{0: 2, 1: 2, 2: 2, 3: 4, 4: 4, 5: 10, 11: 20, 21: 40, 41: 100, 250: 400, 901: 1000} {
		if got := niceMax(most); got != want {
			t.Errorf("niceMax(%d) = %d, want %d", most, got, want)
		}
	}
}

// A bar's segments stack from the zero line up, each as tall as its count
// on the axis, each a link named with its count, kind and week; a kind
// with no keys that week draws nothing.
func TestChartSegmentsStackToTheirCounts(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := ExpiryChart{Kinds: []string{"user", "provisioning", "device"}, Weeks: []ChartWeek{
		{Start: start, ByKind: []OverviewCount{{N: 2, URL: "/u"}, {N: 0, URL: "/p"}, {N: 1, URL: "/d"}}, Total: OverviewCount{N: 3}},
		{Start: start.AddDate(0, 0, 7), ByKind: []OverviewCount{{}, {}, {}}},
	}}
	g := c.geometry()
	if len(g.Bars) != 2 || len(g.Bars[1].Segments) != 0 {
		t.Fatalf("bars %+v", g.Bars)
	}
	segs := g.Bars[0].Segments
	if len(segs) != 2 || segs[0].Kind != "user" || segs[1].Kind != "device" {
		t.Fatalf("segments %+v", segs)
	}
	// The axis tops at 4: 2 keys are half the plot, 1 a quarter.
	if segs[0].H != "100.0" || segs[1].H != "50.0" || segs[0].Y != "112.0" || segs[1].Y != "62.0" || g.Base != "212.0" {
		t.Errorf("geometry: %+v base %s", segs, g.Base)
	}
	if segs[0].URL != "/u" || segs[0].Name != "2 user keys expiring in the week of 1 December" || segs[1].Name != "1 device key expiring in the week of 1 December" {
		t.Errorf("names and links: %+v", segs)
	}
	if WeekLabel(start) != "1–7 Dec" || WeekLabel(start.AddDate(0, 0, 28)) != "29 Dec – 4 Jan" {
		t.Errorf("week labels %q, %q", WeekLabel(start), WeekLabel(start.AddDate(0, 0, 28)))
	}
}
