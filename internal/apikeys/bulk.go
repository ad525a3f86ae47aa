package apikeys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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
	// BulkPolicyMax sets each key that breaks the policy's maximum
	// lifetime to expire at that maximum; keys that already expire
	// sooner are left as they are (Kept).
	BulkPolicyMax BulkAction = "policy_max"
)

// Selection names the keys of a bulk action: ids, or every key a query
// matches (All).
type Selection struct {
	IDs   []int64
	All   bool
	Query apiclient.KeyQuery
}

// Select loads the selected keys, read from balena so that a confirmation
// names what really goes: every key of a view in one list, or the ids in
// calls of apiclient.MaxReadIDs. Keys gone already (revoked in another
// tab) are left out: nothing is left to do to them.
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
	seen := map[int64]bool{}
	for _, id := range sel.IDs {
		if id > 0 && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) > MaxBulk {
		return nil, &Error{Code: apiclient.CodeInvalid, Message: fmt.Sprintf("One bulk action changes at most %d keys.", MaxBulk)}
	}
	_, found, errs := inCalls(ctx, ids, apiclient.MaxReadIDs, c.API.KeysByID)
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	byID := map[int64]apiclient.APIKey{}
	for _, k := range slices.Concat(found...) {
		byID[k.ID] = k
	}
	keys := make([]apiclient.APIKey, 0, len(byID))
	for _, id := range ids {
		if k, ok := byID[id]; ok {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// BulkResult is what a bulk action did: how many changes were made, each
// that was not, and each whose outcome is unknown, in the order of the
// keys.
type BulkResult struct {
	Done     int
	Kept     int // keys left alone because they already were as the action would make them
	Failures []*WriteError
	Unknown  []*WriteError // Outcome Unknown; Err says why the check failed
	Set      time.Time     // the expiry set (expire, policy_max)
}

// errUnchanged is a key that balena, asked to change it, left as it was.
// balena skips the rows of a collection write that the caller may not
// change, without a word.
var errUnchanged = &Error{Code: apiclient.CodeForbidden, Message: "balena did not change it (you may not be allowed to)."}

// Bulk applies action to the keys in collection writes of
// apiclient.MaxWriteIDs keys each, then reads back what balena holds, and
// records each key's outcome as read, in the order of the keys. balena does
// not say which rows a collection write changed, so the read is what makes
// each key's outcome exact. A key whose outcome cannot be read is Unknown.
func (s *Service) Bulk(ctx context.Context, c Caller, action BulkAction, keys []apiclient.APIKey) (BulkResult, error) {
	if err := MayChange(c); err != nil {
		return BulkResult{}, err
	}
	now := s.now().UTC()
	var r BulkResult
	r.Set = now
	if action == BulkPolicyMax {
		latest := s.policy.Latest(now)
		if latest == nil {
			return BulkResult{}, &Error{Code: apiclient.CodeInvalid, Message: "No maximum lifetime is set for keys (KEYPORTAL_POLICY_MAX_LIFETIME), so there is no maximum to set."}
		}
		r.Set = *latest
		// Never lengthen a key's life: one that expires sooner, or has
		// expired, keeps its expiry.
		all := len(keys)
		keys = slices.DeleteFunc(slices.Clone(keys), func(k apiclient.APIKey) bool {
			return k.ExpiryDate != nil && !k.ExpiryDate.After(*latest)
		})
		r.Kept = all - len(keys)
	}
	ids := make([]int64, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	refusal, sendErr, check := send(ctx, c, action, ids, r.Set)
	// The check is made even if the browser has gone: the trail should
	// say what happened.
	holds, uncheckable := readBack(context.WithoutCancel(ctx), c, check)

	// Settled in order, so that the trail reads as the list did.
	for _, k := range keys {
		e := Event{Action: string(action), Key: k, Bulk: true}
		if action != BulkRevoke {
			e.Changes = []Change{changed("expiry", expiryValue(k.ExpiryDate), expiryValue(&r.Set))}
		}
		switch {
		case refusal[k.ID] != nil:
			e.Err = refusal[k.ID]
		case uncheckable[k.ID] != nil:
			e.Outcome, e.Err = Unknown, uncheckable[k.ID]
		default:
			e.Verified = true
			e.Err = outcome(action, k.ID, holds, r.Set, sendErr[k.ID])
			if e.Err == nil && action != BulkRevoke {
				// What balena holds: a key expired meanwhile keeps its expiry.
				e.Changes[0] = changed("expiry", expiryValue(k.ExpiryDate), expiryValue(holds[k.ID]))
			}
		}
		switch {
		case e.Outcome == Unknown:
			r.Unknown = append(r.Unknown, &WriteError{Action: string(action), Key: k, Outcome: Unknown, Err: e.Err})
		case e.Err == nil:
			e.Outcome = Done
			r.Done++
		default:
			e.Outcome = NotDone
			r.Failures = append(r.Failures, &WriteError{Action: string(action), Key: k, Outcome: NotDone, Err: e.Err})
		}
		s.record(ctx, c, e)
	}
	return r, nil
}

// send makes the collection writes of action, apiclient.MaxWriteIDs keys
// each, a few at once. A key whose write balena refused outright is in
// refusal, with why; the others are to be checked, with what their write
// answered (nil for a 2xx, which says nothing of single rows).
func send(ctx context.Context, c Caller, action BulkAction, ids []int64, set time.Time) (refusal, sendErr map[int64]error, check []int64) {
	batches, _, sent := inCalls(ctx, ids, apiclient.MaxWriteIDs, func(ctx context.Context, ids []int64) (struct{}, error) {
		if action == BulkRevoke {
			return struct{}{}, c.API.DeleteKeys(ctx, ids)
		}
		return struct{}{}, c.API.UpdateKeys(ctx, ids, apiclient.KeyUpdate{ExpiryDate: &set})
	})
	refusal, sendErr = map[int64]error{}, map[int64]error{}
	for b, err := range sent {
		if refusedOutright(err) {
			err = refused(ctx, c, err)
			for _, id := range batches[b] {
				refusal[id] = err
			}
			continue
		}
		check = append(check, batches[b]...)
		for _, id := range batches[b] {
			sendErr[id] = err
		}
	}
	return refusal, sendErr, check
}

// readBack reads what balena holds of ids: the expiry of each key still
// there (nil: never; absent: gone), and for each id that could not be
// read, why.
func readBack(ctx context.Context, c Caller, ids []int64) (holds map[int64]*time.Time, uncheckable map[int64]error) {
	batches, held, errs := inCalls(ctx, ids, apiclient.MaxReadIDs, c.API.KeyExpiries)
	holds, uncheckable = map[int64]*time.Time{}, map[int64]error{}
	for b, err := range errs {
		for _, id := range batches[b] {
			if err != nil {
				uncheckable[id] = err
			} else if exp, ok := held[b][id]; ok {
				holds[id] = exp
			}
		}
	}
	return holds, uncheckable
}

// refusedOutright reports whether balena answered a write with a 4xx: it
// read the request and applied none of it. Anything else (a 5xx, which a
// proxy may send after the write went through; no answer; a timeout) is
// checked by reading back.
func refusedOutright(err error) bool {
	var ae *apiclient.Error
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500
}

// outcome is what a key read back says of action: nil when it is done
// (revoked: gone; expired or set to the policy's maximum: an expiry no
// later than the one set), else why not, which is the write's own error
// when it had one.
func outcome(action BulkAction, id int64, holds map[int64]*time.Time, set time.Time, sendErr error) error {
	exp, there := holds[id]
	switch {
	case action == BulkRevoke && !there, action != BulkRevoke && there && exp != nil && !exp.After(set):
		return nil
	case sendErr != nil:
		return sendErr
	case !there:
		return &Error{Code: apiclient.CodeNotFound}
	}
	return errUnchanged
}

// inCalls splits ids into calls of at most per ids, makes them fanOut at
// once, and returns each call's ids, answer and error.
func inCalls[T any](ctx context.Context, ids []int64, per int, call func(context.Context, []int64) (T, error)) (batches [][]int64, out []T, errs []error) {
	batches = slices.Collect(slices.Chunk(ids, per))
	out, errs = make([]T, len(batches)), make([]error, len(batches))
	Each(ctx, len(batches), fanOut, func(ctx context.Context, i int) { out[i], errs[i] = call(ctx, batches[i]) })
	return batches, out, errs
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
