package handlers_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/keyportal/keyportal/apiclient/balenasim"
	"github.com/keyportal/keyportal/handlers/portaltest"
)

func TestBulkExpireConfirmsThenReportsEachFailure(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	list := b.get("/keys?kind=device&status=active&sort=name")
	var ids []string
	list.doc.Find("tbody tr").Each(func(i int, s *goquery.Selection) {
		if i < 6 {
			ids = append(ids, s.AttrOr("data-key-id", ""))
		}
	})
	if len(ids) < 4 {
		t.Fatalf("want at least 4 active device keys, have %d", len(ids))
	}
	form := formWithCSRF(list, "action", "expire", "return", "/keys?kind=device&status=active&sort=name")
	form["id"] = ids
	confirm := b.post("/keys/bulk", form)
	if h := confirm.doc.Find("h1").Text(); h != "Expire "+strconv.Itoa(len(ids))+" keys?" {
		t.Errorf("confirmation heading %q", h)
	}
	if n := confirm.doc.Find(".namelist li").Length(); n != len(ids) {
		t.Errorf("confirmation names %d keys, want %d", n, len(ids))
	}
	for _, id := range ids {
		if expiredInSim(env, id) {
			t.Fatal("changed before confirmation")
		}
	}

	// balena fails some of the changes.
	env.Sim.SetFaults(balenasim.Faults{ErrorRate: 0.5, Seed: 7, Routes: []string{"PATCH /v7/api_key(id)"}})
	result := b.submit(confirm, "form.actions", nil)
	env.Sim.SetFaults(balenasim.Faults{})
	failed := result.doc.Find("tbody tr").Length()
	if failed == 0 || failed == len(ids) {
		t.Fatalf("want a partial failure with this seed, got %d of %d failed\n%s", failed, len(ids), result.body)
	}
	if result.status != http.StatusMultiStatus {
		t.Errorf("status %d, want 207", result.status)
	}
	if h := result.doc.Find("h1").Text(); h != "Expired "+strconv.Itoa(len(ids)-failed)+" keys" && h != "Expired 1 key" {
		t.Errorf("result heading %q", h)
	}
	expired := 0
	for _, id := range ids {
		if expiredInSim(env, id) {
			expired++
		}
	}
	if expired != len(ids)-failed {
		t.Errorf("the page says %d failed, but %d of %d keys expired", failed, expired, len(ids))
	}
	if !strings.Contains(result.doc.Find("tbody td").Last().Text(), "balena answered with an error") {
		t.Errorf("failure reason: %q", result.doc.Find("tbody td").Last().Text())
	}
}

func TestBulkRevokeAllOfAView(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	list := b.get("/keys?kind=provisioning&per_page=10")
	total := list.doc.Find("tbody tr").Length()
	form := formWithCSRF(list, "action", "revoke", "all", "1", "return", "/keys?kind=provisioning")
	confirm := b.post("/keys/bulk", form)
	if !strings.HasPrefix(confirm.doc.Find("h1").Text(), "Revoke "+strconv.Itoa(total)+" key") {
		t.Fatalf("confirmation: %q", confirm.doc.Find("h1").Text())
	}
	done := b.submit(confirm, "form.actions", nil)
	if done.status != 200 || done.doc.Find(".flash-success").Length() != 1 {
		t.Errorf("result: %d\n%s", done.status, done.body)
	}
	after := b.get("/keys?kind=provisioning")
	if n := after.doc.Find("tbody tr").Length(); n != 0 {
		t.Errorf("%d provisioning keys left", n)
	}
	if n := b.get("/keys?kind=device").doc.Find("tbody tr").Length(); n == 0 {
		t.Error("revoking provisioning keys took device keys with it")
	}
}

func TestBulkWithNothingSelectedSaysSo(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	list := b.get("/keys")
	p := b.post("/keys/bulk", formWithCSRF(list, "action", "expire"))
	if !strings.Contains(p.doc.Find(".flash-warning").Text(), "Select at least one key") {
		t.Errorf("got %d %q", p.status, p.doc.Find(".flash").Text())
	}
	if bad := b.post("/keys/bulk", formWithCSRF(list, "action", "explode", "id", "1")); bad.status != http.StatusBadRequest {
		t.Errorf("unknown action: %d", bad.status)
	}
	if bad := b.post("/keys/bulk", formWithCSRF(list, "action", "expire", "id", "x1")); bad.status != http.StatusBadRequest {
		t.Errorf("bad id: %d", bad.status)
	}
}

func TestExportMatchesTheView(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	view := b.get("/keys?kind=device&sort=name&per_page=100")
	var want []string
	view.doc.Find("tbody tr").Each(func(_ int, s *goquery.Selection) { want = append(want, s.AttrOr("data-key-id", "")) })

	href, _ := view.doc.Find(".export a").First().Attr("href")
	csvPage := b.get(href)
	if csvPage.status != 200 || !strings.HasPrefix(csvPage.header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(csvPage.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("csv: %d %v", csvPage.status, csvPage.header)
	}
	rows, err := csv.NewReader(strings.NewReader(csvPage.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "id,name,kind,owner,description,created_at,expiry_date,status" {
		t.Errorf("header %v", rows[0])
	}
	var got []string
	for _, r := range rows[1:] {
		got = append(got, r[0])
		if r[2] != "device" {
			t.Errorf("row %v is not a device key", r)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("csv ids %v, view ids %v", got, want)
	}

	jsonHref, _ := view.doc.Find(".export a").Last().Attr("href")
	var items []struct {
		ID     int64  `json:"id"`
		Kind   string `json:"kind"`
		Secret string `json:"key"`
	}
	if err := json.Unmarshal([]byte(b.get(jsonHref).body), &items); err != nil {
		t.Fatal(err)
	}
	if len(items) != len(want) {
		t.Errorf("json has %d keys, view %d", len(items), len(want))
	}
}

func TestExportStreamsEveryPageOfALargeView(t *testing.T) {
	if testing.Short() {
		t.Skip("large dataset")
	}
	env := portaltest.Start(t, portaltest.Options{Dataset: "large"})
	b := newBrowser(t, env)
	b.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	env.Sim.ResetCounters()
	p := b.get("/keys/export?format=csv&kind=user")
	rows, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range rows[1:] {
		ids[r[0]] = true
	}
	if len(ids) != len(rows)-1 {
		t.Errorf("%d rows but %d distinct keys: pages overlapped", len(rows)-1, len(ids))
	}
	count := b.get("/keys?kind=user").doc.Find(".count").Text()
	if !strings.Contains(count, " of "+formatCount(len(ids))+" keys") {
		t.Errorf("export has %d keys, the view says %q", len(ids), count)
	}
	if calls := env.Sim.Counters().Get("GET /v7/api_key"); calls < 2 {
		t.Errorf("a large export should take several pages, took %d", calls)
	}
}

func TestExportRefusesBadParameters(t *testing.T) {
	_, b := signedIn(t, portaltest.Options{})
	for _, q := range []string{"format=xml", "format=csv&status=bogus"} {
		if p := b.get("/keys/export?" + q); p.status != http.StatusBadRequest {
			t.Errorf("%s: %d", q, p.status)
		}
	}
}

func expiredInSim(env *portaltest.Env, id string) bool {
	for _, k := range env.Sim.Keys() {
		if strconv.FormatInt(k.ID, 10) == id {
			return k.Expired(time.Now())
		}
	}
	return false
}

func formatCount(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
