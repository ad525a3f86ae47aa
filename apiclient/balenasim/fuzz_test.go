package balenasim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// FuzzODataQuery sends arbitrary query strings (and resource paths) to
// /v7/…: the sim must never panic or hang, and must answer 400, 401 or 500,
// or 200 with a JSON body.
func FuzzODataQuery(f *testing.F) {
	for _, seed := range []string{
		"$filter=name%20eq%20'x'",
		"$filter=is_of__actor/any(a:a/is_of__device/any(d:d/uuid%20eq%20'abc'))",
		"$filter=is_of__actor/any(a:a/is_of__user%20eq%201))",
		"$select=id,name&$orderby=name%20asc,id%20desc&$top=5&$skip=1",
		"$expand=is_of__actor($select=id;$expand=is_of__user($select=id,username),is_of__device/$count)",
		"$filter=expiry_date%20gt%20now()%20and%20expiry_date%20lt%20now()%20add%20duration'P7D'",
		"$filter=contains(tolower(name),'a')%20or%20substring(name,1,2)%20eq%20'x'",
		"$filter=id%20in%20(1,2,3)%20and%20not(name%20eq%20null)",
		"$filter=(((((((((((id%20eq%201)))))))))))",
		"$filter=name%20eq%20'O''Brien'&@a=1",
		"$filter=id%20div%200%20eq%201",
		"$filter=is_of__actor/any()",
		"$top=-1",
		"%24filter=name+eq+%27x%27",
		"$filter=year(created_at)%20eq%202025%20and%20length(name)%20gt%203",
		"$filter=created_at%20lt%20datetime'2025-01-01T00:00:00Z'",
		"$orderby=is_of__actor/id%20asc",
		"$filter=application/$count($filter=id%20eq%201)%20gt%200",
	} {
		f.Add("api_key", seed)
	}
	f.Add("device", "$filter=belongs_to__application/slug%20eq%20'acme/plant-1'")
	f.Add("application", "$filter=owns__device/$count%20gt%201&$orderby=owns__device/$count%20desc")
	f.Add("organization", "$expand=application($expand=owns__device/$count)")
	f.Add("actor", "$expand=api_key($filter=name%20ne%20null)")

	s, err := New(Options{Now: func() time.Time { return testNow }})
	if err != nil {
		f.Fatal(err)
	}
	token, err := s.IssueToken(DemoEmail, testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, resource, query string) {
		if len(resource)+len(query) > 4096 {
			return
		}
		raw := "/v7/" + resource + "?" + query
		r := &http.Request{
			Method:     http.MethodGet,
			URL:        &url.URL{Path: "/v7/" + resource, RawQuery: query},
			RequestURI: raw,
			Header:     http.Header{"Authorization": {"Bearer " + token}},
			RemoteAddr: "192.0.2.1:1234",
		}
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.ServeHTTP(w, r)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%q hangs", raw)
		}
		switch w.Code {
		case 400, 401, 500:
		case 200:
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%q: 200 with invalid JSON %q", raw, w.Body.String())
			}
		default:
			t.Fatalf("%q: status %d", raw, w.Code)
		}
	})
}
