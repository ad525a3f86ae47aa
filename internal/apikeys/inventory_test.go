package apikeys_test

import (
	"testing"
	"time"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
)

// A key counts in the week its expiry falls in, from the week's first
// midnight up to (not including) the next week's, as the week's keys view
// (expires_after, expires_before) selects it; keys outside the weeks, that
// never expire or of no known kind count nowhere.
func TestCountByWeekFollowsTheWeeksViews(t *testing.T) {
	now := time.Date(2026, 3, 10, 15, 30, 0, 0, time.FixedZone("CET", 3600))
	day := apikeys.Day(now)
	if want := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC); !day.Equal(want) {
		t.Fatalf("Day = %v, want %v", day, want)
	}
	weeks := apikeys.Weeks(day, 12)
	at := func(d time.Duration) *time.Time { t := day.Add(d); return &t }
	key := func(kind apiclient.KeyKind, exp *time.Time) apiclient.APIKey {
		return apiclient.APIKey{Kind: kind, ExpiryDate: exp}
	}
	week := 7 * 24 * time.Hour
	apikeys.CountByWeek(weeks, []apiclient.APIKey{
		key(apiclient.KindUser, at(0)),                           // week 1's first moment
		key(apiclient.KindUser, at(week-time.Millisecond)),       // week 1's last
		key(apiclient.KindDevice, at(week)),                      // week 2's first
		key(apiclient.KindProvisioning, at(12*week-time.Second)), // week 12's last
		key(apiclient.KindUser, at(12*week)),                     // after the weeks
		key(apiclient.KindUser, at(-time.Second)),                // before them
		key(apiclient.KindUser, nil),                             // never expires
		key("", at(time.Hour)),                                   // of no known kind
	})
	got := [][3]int{}
	for _, w := range weeks {
		got = append(got, [3]int{w.ByKind[apiclient.KindUser], w.ByKind[apiclient.KindProvisioning], w.ByKind[apiclient.KindDevice]})
	}
	want := make([][3]int, 12)
	want[0], want[1], want[11] = [3]int{2, 0, 0}, [3]int{0, 0, 1}, [3]int{0, 1, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("week %d (%s): %v, want %v", i+1, weeks[i].Start.Format(time.DateOnly), got[i], want[i])
		}
	}
	if weeks[0].Total() != 2 || !weeks[11].End.Equal(day.AddDate(0, 0, 84)) {
		t.Errorf("week 1 total %d, week 12 ends %v", weeks[0].Total(), weeks[11].End)
	}
}
