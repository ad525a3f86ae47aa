package session

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// A request whose browser went away ends its Redis call with its own
// cancellation: that is no outage, and the log must not say one began
// and ended. A deadline that passes is one: Redis did not answer in time.
func TestReachabilityTakesAGivenUpCallForNoOutage(t *testing.T) {
	var logs bytes.Buffer
	r := &reachability{log: slog.New(slog.NewTextHandler(&logs, nil))}
	r.observe(context.Background(), nil)

	gone, cancel := context.WithCancel(context.Background())
	cancel()
	r.observe(gone, context.Canceled)
	r.observe(context.Background(), nil)
	if logs.Len() != 0 {
		t.Errorf("a call its caller gave up logged:\n%s", logs.String())
	}

	late, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-late.Done()
	r.observe(late, errors.New("i/o timeout"))
	if !strings.Contains(logs.String(), "session store unavailable") {
		t.Errorf("a call whose deadline passed did not log the outage:\n%s", logs.String())
	}
}
