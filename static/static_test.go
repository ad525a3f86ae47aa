package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func TestVersionedURLsAreImmutable(t *testing.T) {
	for name, ctype := range map[string]string{"app.css": "text/css", "app.js": "javascript", "vendor/htmx.min.js": "javascript", "favicon.svg": "image/svg+xml"} {
		u := URL(name)
		rec := get(t, u)
		if rec.Code != 200 || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") || !strings.Contains(rec.Header().Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %q %q", u, rec.Code, rec.Header().Get("Cache-Control"), rec.Header().Get("Content-Type"))
		}
		if again := get(t, u, "If-None-Match", rec.Header().Get("ETag")); again.Code != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d, want 304", u, again.Code)
		}
	}
}

func TestStaleHashStillServesButIsNotCachedForever(t *testing.T) {
	rec := get(t, Prefix+"000000000000/app.css")
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("stale hash: %d %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
}

func TestUnknownFilesAre404(t *testing.T) {
	for _, p := range []string{Prefix + "x/static.go", Prefix + "abc/../static.go", Prefix + "nohash", Prefix + "x/vendor/SHA256SUMS"} {
		if rec := get(t, p); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, rec.Code)
		}
	}
}

func TestFilesAreServedPrecompressed(t *testing.T) {
	plain := get(t, URL("vendor/htmx.min.js"))
	zipped := get(t, URL("vendor/htmx.min.js"), "Accept-Encoding", "br, gzip;q=0.9")
	if zipped.Header().Get("Content-Encoding") != "gzip" || zipped.Body.Len() >= plain.Body.Len()/2 {
		t.Errorf("gzip: %q, %d bytes against %d", zipped.Header().Get("Content-Encoding"), zipped.Body.Len(), plain.Body.Len())
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if !bytes.Equal(unzipped, plain.Body.Bytes()) {
		t.Error("the compressed file is not the file")
	}
	if refused := get(t, URL("app.css"), "Accept-Encoding", "gzip;q=0"); refused.Header().Get("Content-Encoding") != "" {
		t.Error("gzip sent though the client refused it")
	}
}

// app.js spells no path of the portal: under KEYPORTAL_BASE_PATH a
// hard-coded "/keys" would leave the sub-path. It takes every URL from the
// page (links, hx-* attributes, the row menu's template).
func TestAppJSSpellsNoAbsolutePath(t *testing.T) {
	src, err := files.ReadFile("app.js")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile("[\"'`]/[A-Za-z0-9_.~-]").FindAll(src, -1); len(m) > 0 {
		t.Errorf("app.js holds absolute paths: %q", m)
	}
	if bytes.Contains(src, []byte("location.pathname")) || bytes.Contains(src, []byte("location.origin")) {
		t.Error("app.js builds URLs from the address bar; take them from the page instead")
	}
}
