package audit

import (
	"encoding/json"
	"math"
	"testing"
)

// SQLite's set of ids is the JSON array json.Marshal would write.
func TestInIDsWritesTheJSONArray(t *testing.T) {
	s := &Store{}
	for _, ids := range [][]int64{nil, {}, {7}, {1, 22, 333}, {-5, 0, math.MaxInt64, math.MinInt64}} {
		_, arg := s.inIDs("key_id", ids)
		want, _ := json.Marshal(ids)
		if ids == nil {
			want = []byte("[]")
		}
		if arg != string(want) {
			t.Errorf("%v: %v, want %s", ids, arg, want)
		}
	}
}
