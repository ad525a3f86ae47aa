package apikeys

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/keyportal/keyportal/apiclient"
)

// Counter counts keys at balena; an *apiclient.Session is one.
type Counter interface {
	CountKeys(ctx context.Context, q apiclient.KeyQuery) (int, error)
}

// CountEach counts the keys of every query, all at once: one round trip,
// one /$count call per query where the caller may read actor, whatever the
// number of keys. The first failure cancels the rest and is returned.
func CountEach(ctx context.Context, api Counter, qs []apiclient.KeyQuery) ([]int, error) {
	n := make([]int, len(qs))
	g, ctx := errgroup.WithContext(ctx)
	for i, q := range qs {
		g.Go(func() (err error) {
			n[i], err = api.CountKeys(ctx, q)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return n, nil
}

// StatusView is a status as the keys filter selects it, which an overview
// counts: unlike Status, these views overlap ("expiring within 30 days"
// holds those within 7; "active" is every key not expired, those that
// never expire included), so that each count is exactly one view of the
// keys page.
type StatusView struct {
	Label      string
	Status     apiclient.Status
	WithinDays int // for StatusExpiring
}

// StatusViews are the statuses an overview counts, in its order.
var StatusViews = []StatusView{
	{Label: "Active", Status: apiclient.StatusActive},
	{Label: "Expiring within 7 days", Status: apiclient.StatusExpiring, WithinDays: 7},
	{Label: "Expiring within 30 days", Status: apiclient.StatusExpiring, WithinDays: 30},
	{Label: "Expired", Status: apiclient.StatusExpired},
	{Label: "Never expire", Status: apiclient.StatusNever},
}

// Week is a week of expiries to come: keys expiring from Start (a UTC
// midnight) up to End, by kind.
type Week struct {
	Start, End time.Time
	ByKind     map[apiclient.KeyKind]int
}

// Total is the week's keys of every kind.
func (w Week) Total() int {
	n := 0
	for _, c := range w.ByKind {
		n += c
	}
	return n
}

// Day is the UTC midnight that starts t's day: the keys filter's dates are
// UTC days.
func Day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Weeks are n weeks from day on, every count zero.
func Weeks(day time.Time, n int) []Week {
	ws := make([]Week, n)
	for i := range ws {
		ws[i] = Week{Start: day.AddDate(0, 0, 7*i), End: day.AddDate(0, 0, 7*(i+1)), ByKind: map[apiclient.KeyKind]int{}}
	}
	return ws
}

// CountByWeek adds each key to the week its expiry falls in, under its
// kind. Keys that never expire, fall outside the weeks or are of no known
// kind are left out, as the weeks' views of the keys page leave them out.
func CountByWeek(ws []Week, keys []apiclient.APIKey) {
	if len(ws) == 0 {
		return
	}
	for _, k := range keys {
		if k.ExpiryDate == nil || k.Kind == "" || k.ExpiryDate.Before(ws[0].Start) {
			continue
		}
		i := int(k.ExpiryDate.Sub(ws[0].Start) / (7 * 24 * time.Hour))
		if i < len(ws) {
			ws[i].ByKind[k.Kind]++
		}
	}
}
