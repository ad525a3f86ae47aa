package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/views"
)

// 6. Bulk actions: the same keys expired the portal's way (collection
// writes and a check) and the way it was done before (a read and a write
// per key), interleaved, with the calls each made.
func (b *bench) bulk() {
	r := b.rep
	n := b.n.bulkKeys
	progress(fmt.Sprintf("bulk expire of %d keys", n))
	fmt.Fprintf(r, "## 6. Bulk actions\n\n")
	page, _, err := b.direct.list(b.ctx, apiclient.KeyQuery{Kinds: []apiclient.KeyKind{apiclient.KindDevice}, Top: n})
	must(err)
	ids := make([]int64, len(page.Keys))
	for i, k := range page.Keys {
		ids[i] = k.ID
	}
	r.para("The same %s device keys (dataset `large`) expired again and again, two ways, interleaved. *Now*: the "+
		"confirmed bulk form posted to the portal with the keys' ids, timed from the post to the results page: the "+
		"portal reads the keys %d per call, expires them with one `PATCH /v7/api_key?$filter=id in (…)` per %d, and "+
		"reads back what each key became. *Before* (this change's predecessor, kept in the bench only): the same work "+
		"through apiclient directly, one `GET` and one `PATCH` per key, four at a time, as the portal did it; it has no "+
		"portal in front of it, so the ratio errs in its favour. *calls* are counted by the stand-in.",
		formatInt(len(ids)), apiclient.MaxReadIDs, apiclient.MaxWriteIDs)

	var rows [][]string
	worstCalls := 0
	for _, phase := range []struct {
		added time.Duration
		runs  int
	}{{0, b.n.bulk0}, {50 * time.Millisecond, b.n.bulk50}} {
		if phase.runs == 0 {
			continue
		}
		progress(fmt.Sprintf("bulk expire, %v added, %d of each way", phase.added, phase.runs))
		b.sim.latency(phase.added)
		var before, now sample
		var callsBefore, callsNow int
		for i := 0; i < phase.runs && b.ctx.Err() == nil; i++ {
			b.sim.reset()
			d, err := b.direct.expireOneByOne(b.ctx, ids)
			b.check(err)
			before, callsBefore = append(before, d), b.sim.counters().Total()

			token, err := b.user.csrf(b.ctx)
			b.check(err)
			b.sim.reset()
			d, err = b.user.bulkExpire(b.ctx, token, ids)
			b.check(err)
			now, callsNow = append(now, d), b.sim.counters().Total()
			worstCalls = max(worstCalls, callsNow)
		}
		added := ms(phase.added)
		rows = append(rows,
			[]string{added, "before: a read and a write per key", strconv.Itoa(len(before)), strconv.Itoa(callsBefore),
				ms(before.pct(50)), ratio(float64(before.pct(50)), float64(now.pct(50)))},
			[]string{added, "now: through the portal", strconv.Itoa(len(now)), strconv.Itoa(callsNow), ms(now.pct(50)), "1.00×"})
		r.verdict(fmt.Sprintf("bulk expire of %s keys, %v added: now faster than before", formatInt(len(ids)), phase.added),
			ratio(float64(before.pct(50)), float64(now.pct(50)))+" as fast", now.pct(50) < before.pct(50))
	}
	b.sim.latency(0)
	r.table([]string{"added", "way", "n", "calls", "p50", "before ÷ now"}, rows)
	r.verdict(fmt.Sprintf("bulk expire of %s keys ≤ 25 calls", formatInt(len(ids))), strconv.Itoa(worstCalls), worstCalls <= 25)
}

// expireOneByOne is a bulk expire the way the portal made it before
// collection writes, kept here for the comparison and nowhere in the
// portal: each key read, then each key expired, four calls at a time.
func (d *direct) expireOneByOne(ctx context.Context, ids []int64) (time.Duration, error) {
	s := d.client.As(d.token).WithIdentity(d.id)
	each := func(fn func(ctx context.Context, id int64) error) error {
		g, ctx := errgroup.WithContext(ctx)
		g.SetLimit(4)
		for _, id := range ids {
			g.Go(func() error { return fn(ctx, id) })
		}
		return g.Wait()
	}
	start := time.Now()
	now := start.UTC()
	err := each(func(ctx context.Context, id int64) error { _, err := s.GetKey(ctx, id); return err })
	if err == nil {
		err = each(func(ctx context.Context, id int64) error {
			return s.UpdateKey(ctx, id, apiclient.KeyUpdate{ExpiryDate: &now})
		})
	}
	return time.Since(start), err
}

var csrfInput = regexp.MustCompile(`name="` + views.CSRFField + `" value="([^"]+)"`)

// csrf reads the session's CSRF token from a keys page.
func (b *browser) csrf(ctx context.Context) (string, error) {
	p, err := b.get(ctx, "/keys?per_page=10", false, false)
	if err != nil {
		return "", err
	}
	m := csrfInput.FindSubmatch(p.body)
	if m == nil {
		return "", fmt.Errorf("keys page without a CSRF token (status %d)", p.status)
	}
	return string(m[1]), nil
}

// bulkExpire posts the confirmed bulk form for ids and insists that every
// key was expired.
func (b *browser) bulkExpire(ctx context.Context, token string, ids []int64) (time.Duration, error) {
	form := url.Values{views.CSRFField: {token}, "action": {"expire"}, "confirm": {"1"}, "return": {"/keys?kind=device"}}
	for _, id := range ids {
		form.Add("id", strconv.FormatInt(id, 10))
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/keys/bulk", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	start := time.Now()
	res, err := b.http.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	d := time.Since(start)
	if err == nil && (res.StatusCode != http.StatusOK || !strings.Contains(string(body), "Every selected key was changed.")) {
		err = fmt.Errorf("bulk expire of %d keys: status %d", len(ids), res.StatusCode)
	}
	return d, err
}

// formatInt writes n with thousands separators.
func formatInt(n int) string { return views.FormatCount(n) }
