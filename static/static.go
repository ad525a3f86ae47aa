// Package static holds the portal's CSS, JavaScript and vendored front-end
// files, embedded in the binary and served under content-hashed URLs, so a
// browser may cache each version forever and still never see a stale file.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// Prefix is where the files are served.
const Prefix = "/static/"

//go:embed app.css app.js favicon.svg vendor/htmx.min.js
var files embed.FS

// hashes maps each file name to the first 12 hex digits of its SHA-256,
// and gzipped to its content compressed once, at the best level, so that
// no request pays for compressing a file that never changes.
var hashes, gzipped = func() (map[string]string, map[string][]byte) {
	h, z := map[string]string{}, map[string][]byte{}
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := files.ReadFile(p)
		sum := sha256.Sum256(b)
		h[p] = hex.EncodeToString(sum[:])[:12]
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(b)
		_ = zw.Close()
		if buf.Len() < len(b) {
			z[p] = buf.Bytes()
		}
		return nil
	})
	return h, z
}()

// URL returns the versioned URL of the named file, e.g.
// /static/3fa2b1c09d4e/app.css. It panics on a name that is not embedded,
// which a test of every page catches at once.
func URL(name string) string {
	h, ok := hashes[name]
	if !ok {
		panic("static: no file " + name)
	}
	return Prefix + h + "/" + name
}

// Handler serves /static/<hash>/<name>. A URL whose hash is current is
// cacheable forever; an old hash still gets the file, but briefly cached.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, Prefix)
		hash, name, ok := strings.Cut(rest, "/")
		cur, known := hashes[name]
		if !ok || !known {
			http.NotFound(w, r)
			return
		}
		b, err := files.ReadFile(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if hash == cur {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
		w.Header().Set("ETag", `"`+cur+`"`)
		w.Header().Set("Vary", "Accept-Encoding")
		if r.Header.Get("If-None-Match") == `"`+cur+`"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if z, ok := gzipped[name]; ok && acceptsGzip(r) {
			w.Header().Set("Content-Encoding", "gzip")
			b = z
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	})
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
