package views

import "testing"

// The count axis ends on a round number whose half is round too, at or
// above the tallest bar.
func TestNiceMax(t *testing.T) {
	for most, want := range map[int]int{0: 2, 1: 2, 2: 2, 3: 4, 4: 4, 5: 10, 11: 20, 21: 40, 41: 100, 250: 400, 901: 1000} {
		if got := niceMax(most); got != want {
			t.Errorf("niceMax(%d) = %d, want %d", most, got, want)
		}
	}
}
