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

// asset is an embedded file as it is served.
type asset struct {
	hash string // the first 12 hex digits of its SHA-256
	raw  []byte
	gz   []byte // nil when gzip does not make it smaller
}

// assets holds every file, read and compressed once, at the best level,
// so that no request pays for reading or compressing a file that never
// changes.
var assets = func() map[string]asset {
	m := map[string]asset{}
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := files.ReadFile(p)
		sum := sha256.Sum256(b)
		a := asset{hash: hex.EncodeToString(sum[:])[:12], raw: b}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(b)
		_ = zw.Close()
		if buf.Len() < len(b) {
			a.gz = buf.Bytes()
		}
		m[p] = a
		return nil
	})
	return m
}()

// URL returns the versioned URL of the named file, e.g.
// /static/3fa2b1c09d4e/app.css. It panics on a name that is not embedded,
// which a test of every page catches at once.
func URL(name string) string {
	a, ok := assets[name]
	if !ok {
		panic("static: no file " + name)
	}
	return Prefix + a.hash + "/" + name
}

// Handler serves /static/<hash>/<name>. A URL whose hash is current is
// cacheable forever; an old hash still gets the file, but briefly cached.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, Prefix)
		hash, name, ok := strings.Cut(rest, "/")
		a, known := assets[name]
		if !ok || !known {
			http.NotFound(w, r)
			return
		}
		cur := a.hash
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
		b := a.raw
		if a.gz != nil && acceptsGzip(r) {
			w.Header().Set("Content-Encoding", "gzip")
			b = a.gz
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
