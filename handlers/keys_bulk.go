package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/views"
)

const (
	// maxBulk bounds one bulk action; a larger view should be narrowed
	// first, which also keeps a slip of the mouse from revoking thousands.
	maxBulk = 1000
	// bulkWorkers is how many changes go to balena at once.
	bulkWorkers = 4
)

// bulk expires or revokes the selected keys, or all keys of the view. The
// first post asks for confirmation; the confirmed one acts and reports
// every key that failed.
func (h keys) bulk(c echo.Context) error {
	if err := h.mayChange(c); err != nil {
		return err
	}
	action := c.FormValue("action")
	verb, done := map[string]string{"expire": "Expire", "revoke": "Revoke"}[action], map[string]string{"expire": "Expired", "revoke": "Revoked"}[action]
	if verb == "" {
		return echo.NewHTTPError(http.StatusBadRequest, "Choose Expire now or Revoke.")
	}
	ret := h.returnTo(c)
	targets, err := h.bulkTargets(c, ret)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		h.flash.set(c, views.Flash{Kind: "warning", Text: "Select at least one key first."})
		return c.Redirect(http.StatusSeeOther, ret)
	}

	if c.FormValue("confirm") != "1" {
		m := views.BulkConfirm{
			Page: h.page(c, verb+" keys"), Action: action, Verb: verb, PostURL: h.url(routeKeyBulk),
			Count: len(targets), All: c.FormValue("all") == "1", Return: ret, CancelURL: ret,
		}
		for i, k := range targets {
			if i < 20 {
				m.Names = append(m.Names, keyLabel(k)+" ("+string(k.Kind)+", "+ownerOf(k)+")")
			}
			if !m.All {
				m.IDs = append(m.IDs, strconv.FormatInt(k.ID, 10))
			}
		}
		return render(c, http.StatusOK, views.BulkConfirmPage(m))
	}

	failures := h.applyBulk(c, action, targets)
	res := views.BulkResult{Page: h.page(c, done+" keys"), Verb: done, Done: len(targets) - len(failures), Failures: failures, ReturnURL: ret}
	status := http.StatusOK
	if len(failures) > 0 {
		status = http.StatusMultiStatus
	}
	return render(c, status, views.BulkResultPage(res))
}

// bulkTargets loads the keys a bulk form names: ids, the whole page, or
// every key of the view (all=1), each read back from balena so that the
// confirmation names what really goes.
func (h keys) bulkTargets(c echo.Context, view string) ([]apiclient.APIKey, error) {
	ctx := c.Request().Context()
	api := h.api(c)
	if c.FormValue("all") == "1" {
		u, _ := url.Parse(view)
		q := parseKeyFilter(u.Query()).query()
		q.Top, q.Skip = maxBulk, 0
		page, err := api.ListKeys(ctx, q)
		if err != nil {
			return nil, err
		}
		if page.Total > maxBulk {
			return nil, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("This view has %s keys; one bulk action changes at most %d. Narrow the filters first.", views.FormatCount(page.Total), maxBulk))
		}
		return page.Keys, nil
	}
	form, _ := c.FormParams()
	ids := form["id"]
	if c.FormValue("page_all") == "1" {
		ids = append(ids, form["page_id"]...)
	}
	var nums []int64
	for _, s := range ids {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return nil, echo.NewHTTPError(http.StatusBadRequest, "“"+s+"” is not a key id.")
		}
		if !slices.Contains(nums, n) {
			nums = append(nums, n)
		}
	}
	if len(nums) > maxBulk {
		return nil, echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("One bulk action changes at most %d keys.", maxBulk))
	}
	keys := make([]apiclient.APIKey, len(nums))
	errs := make([]error, len(nums))
	h.each(ctx, len(nums), func(ctx context.Context, i int) { keys[i], errs[i] = api.GetKey(ctx, nums[i]) })
	var found []apiclient.APIKey
	for i, err := range errs {
		switch {
		case err == nil:
			found = append(found, keys[i])
		case apiclient.ErrorCode(err) == apiclient.CodeNotFound:
			// Gone already (revoked in another tab): nothing left to do.
		default:
			return nil, err
		}
	}
	return found, nil
}

// applyBulk runs the action on every key, a few at a time, and returns the
// failures in the order of the keys.
func (h keys) applyBulk(c echo.Context, action string, targets []apiclient.APIKey) []views.BulkFailure {
	api := h.api(c)
	now := h.now().UTC()
	errs := make([]error, len(targets))
	h.each(c.Request().Context(), len(targets), func(ctx context.Context, i int) {
		if action == "revoke" {
			errs[i] = api.DeleteKey(ctx, targets[i].ID)
		} else {
			errs[i] = api.UpdateKey(ctx, targets[i].ID, apiclient.KeyUpdate{ExpiryDate: &now})
		}
	})
	// Audited afterwards, in order: the request's context is not for
	// concurrent use.
	for i, k := range targets {
		change := []slog.Attr{slog.Bool("bulk", true)}
		if action == "expire" {
			change = append(change, slog.String("old_expiry", optTime(k.ExpiryDate)), slog.String("new_expiry", optTime(&now)))
		}
		h.audit(c, action, k, change, errs[i])
	}
	var failures []views.BulkFailure
	for i, err := range errs {
		if err != nil {
			failures = append(failures, views.BulkFailure{Key: keyLabel(targets[i]) + " (" + ownerOf(targets[i]) + ")", Reason: describe(err).Message})
		}
	}
	return failures
}

// each calls fn for 0..n-1 with at most bulkWorkers running at once.
func (h keys) each(ctx context.Context, n int, fn func(context.Context, int)) {
	sem := make(chan struct{}, bulkWorkers)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(ctx, i)
		}()
	}
	wg.Wait()
}
