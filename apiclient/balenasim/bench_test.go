package balenasim

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	largeOnce sync.Once
	largeSim  *Sim
)

func large(b *testing.B) *Sim {
	largeOnce.Do(func() {
		s, err := New(Options{Dataset: "large", Now: func() time.Time { return testNow }})
		if err != nil {
			b.Fatal(err)
		}
		largeSim = s
	})
	return largeSim
}

func serveOK(b *testing.B, s *Sim, token, target string) {
	r := httptest.NewRequest("GET", target, nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 200 {
		b.Fatalf("%s: %d %s", target, w.Code, w.Body)
	}
}

// BenchmarkLargeKeyPage is what one page of a key portal costs on the large
// dataset (20,600 keys visible to admin): a filtered, sorted page of 50 and
// the matching /$count.
func BenchmarkLargeKeyPage(b *testing.B) {
	s := large(b)
	token, _ := s.IssueToken(DemoEmail, testNow)
	filter := "$filter=(expiry_date%20eq%20null%20or%20expiry_date%20gt%20now())%20and%20contains(tolower(name),'key')"
	page := "/v7/api_key?$select=id,name,description,created_at,expiry_date,is_of__actor&" + filter +
		"&$orderby=name%20asc&$top=50&$skip=100"
	count := "/v7/api_key/$count?" + filter
	b.ReportAllocs()
	for b.Loop() {
		serveOK(b, s, token, page)
		serveOK(b, s, token, count)
	}
}

// BenchmarkLargeKeyPageByFleet pages the keys of one fleet and its devices
// through the documented lambda filters.
func BenchmarkLargeKeyPageByFleet(b *testing.B) {
	s := large(b)
	token, _ := s.IssueToken(DemoEmail, testNow)
	target := "/v7/api_key?$select=id,name&$filter=is_of__actor/any(a:a/is_of__application/any(f:f/slug%20eq%20'acme/fleet-042')%20or%20a/is_of__device/any(d:d/belongs_to__application/any(f:f/slug%20eq%20'acme/fleet-042')))&$orderby=created_at%20desc&$top=50"
	b.ReportAllocs()
	for b.Loop() {
		serveOK(b, s, token, target)
	}
}

// BenchmarkLargeKeyPageByActor is the "my keys" page (is_of__actor eq N),
// which starts from the keys-by-actor index.
func BenchmarkLargeKeyPageByActor(b *testing.B) {
	s := large(b)
	token, _ := s.IssueToken(DemoEmail, testNow)
	filter := "$filter=is_of__actor%20eq%201%20and%20name%20ne%20null"
	targets := []string{
		"/v7/api_key?$select=id,name,created_at,expiry_date&" + filter + "&$orderby=name%20asc&$top=50",
		"/v7/api_key/$count?" + filter,
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, target := range targets {
			serveOK(b, s, token, target)
		}
	}
}

// BenchmarkLargeKeysByID reads 200 keys by id with their owners, as a
// client reads a selection back, starting from the keys-by-id index.
func BenchmarkLargeKeysByID(b *testing.B) {
	s := large(b)
	token, _ := s.IssueToken(DemoEmail, testNow)
	ids := make([]string, 0, 200)
	for i := 0; i < 200; i++ {
		ids = append(ids, strconv.Itoa(1000+i*97))
	}
	target := "/v7/api_key?$select=id,name,description,created_at,expiry_date&$filter=id%20in%20(" + strings.Join(ids, ",") + ")" +
		"&$expand=is_of__actor($select=id;$expand=is_of__user($select=id,username),is_of__application($select=id,slug),is_of__device($select=id,uuid,device_name))"
	b.ReportAllocs()
	for b.Loop() {
		serveOK(b, s, token, target)
	}
}
