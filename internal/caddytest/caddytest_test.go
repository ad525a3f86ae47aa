package caddytest

import (
	"crypto/tls"
	"io"
	"net/http"
	"testing"
)

// Caddy answers over TLS with a certificate of its own CA as soon as Start
// returns, and is gone after Stop.
func TestStartServesTLSUntilStopped(t *testing.T) {
	p := Start(t, `respond "hello from caddy" 200`)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := client.Get(p.URL + "/")
	if err != nil {
		t.Fatalf("%v\n%s", err, p.Log())
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "hello from caddy" || res.TLS == nil || len(res.TLS.PeerCertificates) == 0 {
		t.Fatalf("GET = %d %q, TLS %v", res.StatusCode, body, res.TLS != nil)
	}
	if issuer := res.TLS.PeerCertificates[len(res.TLS.PeerCertificates)-1].Issuer.CommonName; issuer == "" {
		t.Errorf("certificate without an issuer")
	}
	p.Stop()
	client.CloseIdleConnections()
	if _, err := client.Get(p.URL + "/"); err == nil {
		t.Error("caddy still answers after Stop")
	}
}
