package handlers

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/views"
)

// bulkVerbs word each bulk action: to ask, and to report.
var bulkVerbs = map[apikeys.BulkAction][2]string{
	apikeys.BulkExpire: {"Expire", "Expired"},
	apikeys.BulkRevoke: {"Revoke", "Revoked"},
	// "Set expiry to the policy's maximum"
	apikeys.BulkPolicyMax: {"Limit the lifetime of", "Limited the lifetime of"},
}

// bulk expires or revokes the selected keys, or all keys of the view. The
// first post asks for confirmation; the confirmed one acts and reports
// every key that failed.
func (h keys) bulk(c echo.Context) error {
	action := apikeys.BulkAction(c.FormValue("action"))
	verbs, ok := bulkVerbs[action]
	if !ok {
		return echo.NewHTTPError(http.StatusBadRequest, "Choose Expire now, Revoke or Set expiry to the policy's maximum.")
	}
	latest := h.rules.Policy().Latest(h.now())
	if action == apikeys.BulkPolicyMax && latest == nil {
		return echo.NewHTTPError(http.StatusBadRequest, "No maximum lifetime is set for keys (KEYPORTAL_POLICY_MAX_LIFETIME), so there is no maximum to set.")
	}
	ret := h.returnTo(c)
	sel, err := h.selection(c, ret)
	if err != nil {
		return err
	}
	targets, err := h.rules.Select(c.Request().Context(), h.caller(c), sel)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		h.flash.set(c, views.Flash{Kind: "warning", Text: "Select at least one key first."})
		return c.Redirect(http.StatusSeeOther, ret)
	}

	if c.FormValue("confirm") != "1" {
		m := views.BulkConfirm{
			Page: h.keysPage(c, verbs[0]+" keys"), Action: string(action), Verb: verbs[0], PostURL: h.url(routeKeyBulk),
			Count: len(targets), All: sel.All, Return: ret, CancelURL: ret,
		}
		if action == apikeys.BulkPolicyMax {
			m.Effect = "Each that expires later than " + views.ExactTime(*latest) + ", or never, is set to expire then, the longest your organization's policy allows (" +
				h.rules.Policy().Lifetime() + "); keys that expire sooner keep their date. Whatever uses them, a device's own key included, stops working at that moment unless it gets a new key first."
		}
		for i, k := range targets {
			if i < 20 {
				m.Names = append(m.Names, apikeys.Label(k)+" ("+string(k.Kind)+", "+apikeys.Owner(k)+")")
			}
			if !m.All {
				m.IDs = append(m.IDs, strconv.FormatInt(k.ID, 10))
			}
		}
		return render(c, http.StatusOK, views.BulkConfirmPage(m))
	}

	res, err := h.rules.Bulk(c.Request().Context(), h.caller(c), action, targets)
	if err != nil {
		return err
	}
	m := views.BulkResult{Page: h.keysPage(c, verbs[1]+" keys"), Verb: verbs[1], Done: res.Done, ReturnURL: ret}
	if action == apikeys.BulkPolicyMax {
		m.Note = "They now expire " + views.ExactTime(res.Set) + "."
		if res.Kept > 0 {
			m.Note += " " + views.FormatCount(res.Kept) + " " + map[bool]string{true: "key already expires", false: "keys already expire"}[res.Kept == 1] + " sooner and kept " + map[bool]string{true: "its date", false: "their dates"}[res.Kept == 1] + "."
		}
	}
	for _, f := range res.Failures {
		m.Failures = append(m.Failures, views.BulkFailure{Key: bulkLabel(f.Key), Reason: apikeys.Explain(f.Err)})
	}
	for _, u := range res.Unknown {
		m.Unknown = append(m.Unknown, views.BulkFailure{Key: bulkLabel(u.Key), Reason: apikeys.Explain(u.Err)})
	}
	status := http.StatusOK
	if len(m.Failures)+len(m.Unknown) > 0 {
		status = http.StatusMultiStatus
	}
	return render(c, status, views.BulkResultPage(m))
}

// bulkLabel names a key of a bulk result.
func bulkLabel(k apiclient.APIKey) string { return apikeys.Label(k) + " (" + apikeys.Owner(k) + ")" }

// selection reads which keys a bulk form names: ids, the whole page, or
// every key of the view it came from (all=1).
func (h keys) selection(c echo.Context, view string) (apikeys.Selection, error) {
	if c.FormValue("all") == "1" {
		u, _ := url.Parse(view)
		return apikeys.Selection{All: true, Query: h.filter(u.Query()).Query()}, nil
	}
	form, _ := c.FormParams()
	ids := form["id"]
	if c.FormValue("page_all") == "1" {
		ids = append(ids, form["page_id"]...)
	}
	var sel apikeys.Selection
	for _, s := range ids {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return sel, echo.NewHTTPError(http.StatusBadRequest, "“"+s+"” is not a key id.")
		}
		sel.IDs = append(sel.IDs, n)
	}
	return sel, nil
}
