package apiclient

import (
	"testing"

	"github.com/keyportal/keyportal/apiclient/balenasim"
)

// BenchmarkListKeys measures one page of the keys view, a filtered 50-row
// page and its count, against the stand-in's large dataset. req/op is the
// number of upstream requests the page cost.
func BenchmarkListKeys(b *testing.B) {
	q := KeyQuery{Status: StatusActive, Text: "key", Sort: SortName, Top: 50}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			e := newModeEnv(b, m, balenasim.Options{Dataset: "large"})
			s := e.session(b, balenasim.DemoEmail)
			id, err := s.WhoAmI(ctx(b))
			if err != nil {
				b.Fatal(err)
			}
			s = s.WithIdentity(id)
			if _, err := s.ListKeys(ctx(b), q); err != nil { // learn the profile
				b.Fatal(err)
			}
			e.sim.ResetCounters()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				page, err := s.ListKeys(ctx(b), q)
				if err != nil || len(page.Keys) != 50 {
					b.Fatalf("%d keys, %v", len(page.Keys), err)
				}
			}
			b.ReportMetric(float64(e.sim.Counters().Total())/float64(b.N), "req/op")
		})
	}
}
