package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keyportal/keyportal/apiclient"
	"github.com/keyportal/keyportal/internal/apikeys"
	"github.com/keyportal/keyportal/views"
)

// show is a key's own page: all the table shows of it, in full, and its
// actions, which come back here. One balena call: the key with its owner.
func (h keys) show(c echo.Context) error {
	back := h.backTo(c.QueryParam("return"), 0)
	raw := c.Param("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		if len(raw) > 40 {
			raw = raw[:40] + "…"
		}
		return echo.NewHTTPError(http.StatusNotFound, "“"+raw+"” is not a key id: key ids are whole numbers, as the ID column of the keys table shows them.")
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	links := h.rowLinks(back) // the pages of other keys, remembering the same view
	k, err := h.rules.Key(ctx, h.caller(c), id)
	if apikeys.Code(err) == apiclient.CodeNotFound {
		m := views.KeyPage{
			Page:    h.keysPage(c, "Key "+strconv.FormatInt(id, 10)+" not found"),
			Title:   "Key #" + strconv.FormatInt(id, 10),
			Status:  "There is no key #" + strconv.FormatInt(id, 10) + " that your account can see: it may have been revoked, or it belongs to someone else.",
			BackURL: back,
			Flash:   h.flash.take(c),
			Gone:    true,
		}
		h.keyEvents(ctx, &m, id, h.auditAdmin(u), u.Identity, links)
		if e, ok := revokedBy(m.History); ok {
			m.Status = "Key #" + strconv.FormatInt(id, 10) + " was revoked by " + e.Who + " on " + e.When.Exact + " (" + e.When.Relative + "): it no longer exists."
		}
		return render(c, http.StatusNotFound, views.KeyPageView(m))
	}
	if err != nil {
		return err
	}
	now := h.now()
	v := apikeys.ViewOf(k, u.Identity, now)
	m := views.KeyPage{
		Page:      h.keysPage(c, apikeys.Title(k)),
		Key:       keyRow(k, u.Identity, now),
		Title:     apikeys.Title(k),
		Owner:     ownerFacts(k, v.Mine),
		Created:   when(k.CreatedAt, now),
		Status:    statusWords(v.Status, k.ExpiryDate, now),
		Menu:      h.rowLinks(h.keyPage(id, back)).forKey(id),
		CanChange: u.CanChangeKeys,
		Flash:     h.flash.take(c),
		BackURL:   back,
	}
	if k.ExpiryDate != nil {
		e := when(*k.ExpiryDate, now)
		m.Expires = &e
	}
	links.withLineage(&m.Key, h.lineage(ctx, []int64{id})[id])
	h.keyEvents(ctx, &m, id, true, u.Identity, links)
	return render(c, http.StatusOK, views.KeyPageView(m))
}

// when is t exactly, and how far it is from now.
func when(t, now time.Time) views.When {
	return views.When{ISO: t.UTC().Format(time.RFC3339), Exact: views.ExactTime(t), Relative: views.RelTime(t, now)}
}

// ownerFacts names what k belongs to in full: the user, the fleet, or the
// device with its whole uuid.
func ownerFacts(k apiclient.APIKey, mine bool) []views.Fact {
	o := k.Owner
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	switch k.Kind {
	case apiclient.KindUser:
		if mine {
			return []views.Fact{{Label: "Owner", Value: o.Username + " (you)"}}
		}
		return []views.Fact{{Label: "Owner", Value: o.Username}}
	case apiclient.KindProvisioning:
		f := []views.Fact{{Label: "Fleet", Value: o.FleetSlug}}
		if o.FleetID != 0 {
			f = append(f, views.Fact{Label: "Fleet ID", Value: id(o.FleetID), Mono: true})
		}
		return f
	case apiclient.KindDevice:
		var f []views.Fact
		if o.DeviceName != "" {
			f = append(f, views.Fact{Label: "Device", Value: o.DeviceName})
		}
		f = append(f, views.Fact{Label: "Device UUID", Value: o.DeviceUUID, Mono: true})
		if o.DeviceID != 0 {
			f = append(f, views.Fact{Label: "Device ID", Value: id(o.DeviceID), Mono: true})
		}
		return f
	}
	return []views.Fact{{Label: "Owner", Value: apikeys.Owner(k)}}
}

// statusWords says where a key stands and what that means for whatever
// uses it.
func statusWords(s apikeys.Status, expiry *time.Time, now time.Time) string {
	switch s {
	case apikeys.StatusNever:
		return "Never expires: it works until it is revoked."
	case apikeys.StatusExpired:
		return "Expired " + views.RelTime(*expiry, now) + ": balena refuses it. A later expiry, or none, makes it work again."
	case apikeys.StatusExpiring:
		return "Expiring soon: it stops working " + views.RelTime(*expiry, now) + "."
	}
	return "Active: it works until it expires " + views.RelTime(*expiry, now) + "."
}
