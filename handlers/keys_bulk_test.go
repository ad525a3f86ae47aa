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
	ids := firstIDs(list, 6)
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

	// Another tab expires half of them, one by one; then balena fails the
	// bulk change (one write for all six). The page reports each key as
	// balena holds it afterwards: those expired meanwhile are expired.
	for _, id := range ids[:len(ids)/2] {
		if p := b.post("/keys/"+id+"/expire", formWithCSRF(list)); p.status != http.StatusOK {
			t.Fatalf("expire %s in another tab: %d", id, p.status)
		}
	}
	env.Sim.SetFaults(balenasim.Faults{ErrorRate: 1, Routes: []string{"PATCH /v7/api_key"}})
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
	if strings.Join(rows[0], ",") != "id,name,kind,owner,description,created_at,expiry_date,status,last_seen" {
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

// signedInLarge is the admin signed in to a portal on the large dataset;
// short test runs skip it.
func signedInLarge(t *testing.T) (*portaltest.Env, *browser) {
	t.Helper()
	if testing.Short() {
		t.Skip("large dataset")
	}
	env := portaltest.Start(t, portaltest.Options{Dataset: "large"})
	b := newBrowser(t, env)
	b.signIn(balenasim.DemoEmail, balenasim.DemoPassword)
	return env, b
}

func TestExportStreamsEveryPageOfALargeView(t *testing.T) {
	env, b := signedInLarge(t)
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

// firstIDs are the ids of the first n rows of a keys page.
func firstIDs(p page, n int) []string {
	var ids []string
	p.doc.Find("tbody tr").Each(func(i int, s *goquery.Selection) {
		if i < n {
			ids = append(ids, s.AttrOr("data-key-id", ""))
		}
	})
	return ids
}

func expiredInSim(env *portaltest.Env, id string) bool {
	k, ok := inSim(env, id)
	return ok && k.Expired(time.Now())
}

// inSim is what the stand-in holds of the key with this id.
func inSim(env *portaltest.Env, id string) (balenasim.KeyRecord, bool) {
	for _, k := range env.Sim.Keys() {
		if strconv.FormatInt(k.ID, 10) == id {
			return k, true
		}
	}
	return balenasim.KeyRecord{}, false
}

func formatCount(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// A bulk action on 1,000 keys is a handful of calls to balena, whether the
// keys come as ids or as every key of a view: the selection read, one
// write per 100 keys, and one read that checks what each key became.
func TestBulkOfAThousandKeysTakesAFewCalls(t *testing.T) {
	env, b := signedInLarge(t)
	list := b.get("/keys?kind=device")
	var ids []string
	for _, k := range env.Sim.Keys() {
		if k.Kind == balenasim.KindDevice && len(ids) < 1000 {
			ids = append(ids, strconv.FormatInt(k.ID, 10))
		}
	}
	act := func(form map[string][]string, verb string, n int) balenasim.Counters {
		t.Helper()
		confirm := b.post("/keys/bulk", form)
		if h := confirm.doc.Find("h1").Text(); h != verb+" "+formatCount(n)+" keys?" {
			t.Fatalf("confirmation heading %q", h)
		}
		env.Sim.ResetCounters()
		done := b.submit(confirm, "form.actions", nil)
		c := env.Sim.Counters()
		if h := done.doc.Find("h1").Text(); done.status != http.StatusOK || h != verb+"d "+formatCount(n)+" keys" ||
			done.doc.Find(".flash-success").Length() != 1 {
			t.Errorf("result %d %q\n%s", done.status, h, done.doc.Find("main").Text())
		}
		t.Logf("%s %d keys: %d calls %v", verb, n, c.Total(), c.ByRoute)
		if c.Total() > 25 {
			t.Errorf("%s %d keys took %d calls to balena, want at most 25: %v", verb, n, c.Total(), c.ByRoute)
		}
		return c
	}
	held := func() map[string]balenasim.KeyRecord {
		m := map[string]balenasim.KeyRecord{}
		for _, k := range env.Sim.Keys() {
			m[strconv.FormatInt(k.ID, 10)] = k
		}
		return m
	}

	form := formWithCSRF(list, "action", "expire", "return", "/keys?kind=device")
	form["id"] = ids
	if c := act(form, "Expire", 1000); c.Get("PATCH /v7/api_key") != 10 {
		t.Errorf("%d writes, want one per 100 keys", c.Get("PATCH /v7/api_key"))
	}
	now, after := time.Now(), held()
	for _, id := range ids {
		if !after[id].Expired(now) {
			t.Fatalf("key %s not expired: %v", id, after[id].ExpiryDate)
		}
	}

	form["action"] = []string{"revoke"}
	if c := act(form, "Revoke", 1000); c.Get("DELETE /v7/api_key") != 10 {
		t.Errorf("%d writes, want one per 100 keys", c.Get("DELETE /v7/api_key"))
	}
	after = held()
	for _, id := range ids {
		if _, there := after[id]; there {
			t.Fatalf("key %s not revoked", id)
		}
	}

	// Every key of a view: the admin's user keys and the fleets'
	// provisioning keys, 600.
	view := "/keys?kind=user&kind=provisioning"
	act(formWithCSRF(b.get(view), "action", "expire", "all", "1", "return", view), "Expire", 600)
	now = time.Now()
	for _, k := range env.Sim.Keys() {
		if (k.Kind == balenasim.KindProvisioning || k.OwnerEmail == balenasim.DemoEmail) && !k.Expired(now) {
			t.Errorf("key %d of the view not expired", k.ID)
		}
	}
}

// When the read that checks a bulk action fails, the page says which keys'
// outcome is unknown and links to the view that shows them; it does not
// call them failed.
func TestBulkWhoseOutcomeCannotBeCheckedSaysSo(t *testing.T) {
	env, b := signedIn(t, portaltest.Options{})
	view := "/keys?kind=device&sort=name"
	list := b.get(view)
	ids := firstIDs(list, 3)
	form := formWithCSRF(list, "action", "revoke", "return", view)
	form["id"] = ids
	confirm := b.post("/keys/bulk", form)
	// Seed 23 lets the first read of keys through (the selection) and
	// answers the second, the check after the write, with a 500.
	env.Sim.SetFaults(balenasim.Faults{ErrorRate: 0.5, Seed: 23, Routes: []string{"GET /v7/api_key"}})
	result := b.submit(confirm, "form.actions", nil)
	env.Sim.SetFaults(balenasim.Faults{})

	if result.status != http.StatusMultiStatus || result.doc.Find(".flash-error").Length() != 0 {
		t.Errorf("status %d, error banner %q", result.status, result.doc.Find(".flash-error").Text())
	}
	if w := result.doc.Find(".flash-warning").Text(); !strings.HasPrefix(w, "For 3 keys it is not known whether they were revoked") {
		t.Errorf("warning %q", w)
	}
	if href := result.doc.Find("p.unknown a").AttrOr("href", ""); href != view {
		t.Errorf("link to the view %q, want %q", href, view)
	}
	if n := result.doc.Find("tbody tr").Length(); n != 3 {
		t.Errorf("%d keys listed as unknown, want 3", n)
	}
	if n := strings.Count(env.Logs.String(), `outcome="unknown: `); n != 3 {
		t.Errorf("%d audit events say unknown, want 3", n)
	}
	// The write itself went through.
	for _, id := range ids {
		if _, there := inSim(env, id); there {
			t.Errorf("key %s is still there", id)
		}
	}
}
