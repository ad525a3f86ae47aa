package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRunServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-dataset", "empty", "-latency", "1ms"}, pw, io.Discard)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var url, secret string
	for (url == "" || secret == "") && lines.Scan() {
		line := lines.Text()
		if rest, ok := strings.CutPrefix(line, "balena-sim listening on "); ok {
			url = strings.Fields(rest)[0]
		}
		if _, s, ok := strings.Cut(line, "TOTP secret "); ok {
			secret = s
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" || secret == "" {
		t.Fatalf("banner lacks URL or TOTP secret (url %q, secret %q)", url, secret)
	}
	resp, err := http.Get(url + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ping: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop")
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-dataset", "nope"}, {"-profile", "nope"}, {"-nope"}, {"-fault-routes", "v7/api_key"}, {"-fault-routes", "POST api-key"}} {
		if err := run(context.Background(), append(args, "-addr", "127.0.0.1:0"), io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// -h, --help and help print the usage on stdout and return nil (exit 0)
// without serving: the context is already cancelled, so a run that served
// would stop at once, having printed no usage.
func TestHelpPrintsUsage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, h := range []string{"-h", "--help", "help"} {
		var out strings.Builder
		err := run(ctx, []string{h, "-addr", "127.0.0.1:0"}, &out, io.Discard)
		if err != nil || !strings.HasPrefix(out.String(), "Usage: balena-sim") || !strings.Contains(out.String(), "-dataset") {
			t.Errorf("balena-sim %s: err %v, printed %q", h, err, out.String())
		}
	}
	if err := run(ctx, []string{"-addr", "127.0.0.1:0", "serve"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), `unexpected argument "serve"`) {
		t.Errorf("a stray argument: %v", err)
	}
}
