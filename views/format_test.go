package views

import (
	"testing"
	"time"
)

func TestRelTime(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"}, {-59 * time.Second, "just now"}, {30 * time.Second, "just now"},
		{-time.Minute, "1 minute ago"}, {2 * time.Minute, "in 2 minutes"},
		{-3 * time.Hour, "3 hours ago"}, {time.Hour, "in 1 hour"},
		{-24 * time.Hour, "1 day ago"}, {29 * 24 * time.Hour, "in 29 days"},
		{-45 * 24 * time.Hour, "1 month ago"}, {200 * 24 * time.Hour, "in 6 months"},
		{340 * 24 * time.Hour, "in 11 months"}, {360 * 24 * time.Hour, "in 1 year"}, {-350 * 24 * time.Hour, "1 year ago"},
		{-400 * 24 * time.Hour, "1 year ago"}, {3 * 365 * 24 * time.Hour, "in 3 years"},
	} {
		if got := RelTime(now.Add(c.d), now); got != c.want {
			t.Errorf("RelTime(now%+v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestFormatCount(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 20600: "20,600", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := FormatCount(n); got != want {
			t.Errorf("FormatCount(%d) = %q, want %q", n, got, want)
		}
	}
}
