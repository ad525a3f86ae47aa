package views

import (
	"strconv"
	"time"
)

// FormatCount writes n with thousands separators: 12,345.
func FormatCount(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + FormatCount(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// RelTime says how far t is from now in the largest whole unit: "3 days
// ago", "in 4 hours", "just now".
func RelTime(t, now time.Time) string {
	d := t.Sub(now)
	future := d > 0
	if !future {
		d = -d
	}
	var n int
	var unit string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		n, unit = int(d/time.Minute), "minute"
	case d < 24*time.Hour:
		n, unit = int(d/time.Hour), "hour"
	case d < 30*24*time.Hour:
		n, unit = int(d/(24*time.Hour)), "day"
	case d < 345*24*time.Hour: // from 11½ months on it reads as a year, not "12 months"
		n, unit = int(d/(30*24*time.Hour)), "month"
	default:
		n, unit = max(1, int(d/(365*24*time.Hour))), "year"
	}
	plural := "s"
	if n == 1 {
		plural = ""
	}
	// Concatenation, not fmt: this runs twice for each row of a page.
	if future {
		return "in " + strconv.Itoa(n) + " " + unit + plural
	}
	return strconv.Itoa(n) + " " + unit + plural + " ago"
}

// ExactTime is the form shown on hover: UTC, to the second.
func ExactTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
