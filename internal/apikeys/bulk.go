package apikeys

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/keyportal/keyportal/apiclient"
)

const (
	// MaxBulk bounds one bulk action; a larger view should be narrowed
	// first, which also keeps a slip of the mouse from revoking thousands.
	MaxBulk = 1000
	// fanOut is how many calls go to balena at once for one person.
	fanOut = 4
)

// BulkAction is what a bulk action does to each key.
type BulkAction string

const (
	BulkExpire BulkAction = "expire"
	BulkRevoke BulkAction = "revoke"
)

// Selection names the keys of a bulk action: ids, or every key a query
// matches (All).
type Selection struct {
	IDs   []int64
	All   bool
	Query apiclient.KeyQuery
}

// Select loads the selected keys, each read back from balena so that a
// confirmation names what really goes. Keys gone already (revoked in
// another tab) are left out: nothing is left to do to them.
func (s *Service) Select(ctx context.Context, c Caller, sel Selection) ([]apiclient.APIKey, error) {
	if err := MayChange(c); err != nil {
		return nil, err
	}
	if sel.All {
		q := sel.Query
		q.Top, q.Skip = MaxBulk, 0
		page, err := c.API.ListKeys(ctx, q)
		if err != nil {
			return nil, err
		}
		if page.Total > MaxBulk {
			return nil, &Error{Code: apiclient.CodeInvalid, Message: fmt.Sprintf("This view has %s keys; one bulk action changes at most %d. Narrow the filters first.", formatCount(page.Total), MaxBulk)}
		}
		return page.Keys, nil
	}
	var ids []int64
	for _, id := range sel.IDs {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) > MaxBulk {
		return nil, &Error{Code: apiclient.CodeInvalid, Message: fmt.Sprintf("One bulk action changes at most %d keys.", MaxBulk)}
	}
	keys := make([]apiclient.APIKey, len(ids))
	errs := make([]error, len(ids))
	Each(ctx, len(ids), fanOut, func(ctx context.Context, i int) { keys[i], errs[i] = s.Key(ctx, c, ids[i]) })
	var found []apiclient.APIKey
	for i, err := range errs {
		switch {
		case err == nil:
			found = append(found, keys[i])
		case apiclient.ErrorCode(err) != apiclient.CodeNotFound:
			return nil, err
		}
	}
	return found, nil
}

// BulkResult is what a bulk action did: how many changes were made, and
// each that failed, in the order of the keys.
type BulkResult struct {
	Done     int
	Failures []*WriteError
}

// Bulk applies action to every key, a few at a time, and records each
// change.
func (s *Service) Bulk(ctx context.Context, c Caller, action BulkAction, keys []apiclient.APIKey) (BulkResult, error) {
	if err := MayChange(c); err != nil {
		return BulkResult{}, err
	}
	now := s.now().UTC()
	events := make([]Event, len(keys))
	errs := make([]error, len(keys))
	Each(ctx, len(keys), fanOut, func(ctx context.Context, i int) {
		k := keys[i]
		events[i] = Event{Action: string(action), Key: k, Bulk: true}
		if action == BulkRevoke {
			errs[i] = c.API.DeleteKey(ctx, k.ID)
			return
		}
		events[i].Changes = []Change{changed("expiry", expiryValue(k.ExpiryDate), expiryValue(&now))}
		errs[i] = c.API.UpdateKey(ctx, k.ID, apiclient.KeyUpdate{ExpiryDate: &now})
	})
	// Settled in order, so that the trail reads as the list did.
	var r BulkResult
	for i := range keys {
		err := s.settle(ctx, c, &events[i], errs[i])
		var we *WriteError
		switch {
		case err == nil:
			r.Done++
		case errors.As(err, &we):
			r.Failures = append(r.Failures, we)
		default:
			r.Failures = append(r.Failures, &WriteError{Action: string(action), Key: keys[i], Err: err})
		}
	}
	return r, nil
}

// Each calls fn for 0..n-1, at most limit at once, and returns when all
// have. It is the portal's one bounded fan-out.
func Each(ctx context.Context, n, limit int, fn func(context.Context, int)) {
	var g errgroup.Group
	g.SetLimit(limit)
	for i := range n {
		g.Go(func() error { fn(ctx, i); return nil })
	}
	_ = g.Wait()
}
