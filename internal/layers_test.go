// Package internal_test keeps Keyportal's layers apart: the layout reads
// top-down, cmd → handlers → the domain and views → apiclient, and no
// package imports one above it.
package internal_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/keyportal/keyportal/"

// allowed lists, for each package, the packages of this module its
// non-test files may import; forbidden lists outside packages it must not.
var layers = map[string]struct{ allowed, forbidden []string }{
	"apiclient":           {},
	"apiclient/balenasim": {}, // the stand-in imports nothing of the portal
	"static":              {},
	"views":               {allowed: []string{"static"}, forbidden: []string{"net/http", "github.com/labstack/echo"}},
	"internal/ttlcache":   {},
	"internal/config":     {},
	"internal/apikeys": {allowed: []string{"apiclient"},
		forbidden: []string{"net/http", "github.com/labstack/echo", "github.com/a-h/templ", "github.com/gorilla"}},
	"internal/watch": {allowed: []string{"apiclient", "internal/apikeys"},
		forbidden: []string{"net/http", "github.com/labstack/echo", "github.com/a-h/templ", "github.com/prometheus"}},
	"internal/digest": {allowed: []string{"apiclient", "internal/apikeys"},
		forbidden: []string{"github.com/labstack/echo", "github.com/a-h/templ", "github.com/gorilla"}},
	"internal/session": {allowed: []string{"apiclient", "internal/config", "internal/ttlcache"},
		forbidden: []string{"github.com/labstack/echo"}},
	"internal/metrics": {allowed: []string{"apiclient", "internal/apikeys", "internal/digest", "internal/watch"},
		forbidden: []string{"github.com/labstack/echo", "github.com/a-h/templ"}},
	"internal/audit": {allowed: []string{"apiclient", "internal/apikeys"},
		forbidden: []string{"net/http", "github.com/labstack/echo", "github.com/a-h/templ", "github.com/gorilla"}},
	"internal/pgtest": {},
	"handlers": {allowed: []string{"apiclient", "internal/apikeys", "internal/audit", "internal/config", "internal/digest", "internal/metrics", "internal/session", "internal/ttlcache", "internal/watch", "views", "static"},
		forbidden: []string{"github.com/gomodule/redigo", "github.com/boj/redistore", "github.com/gorilla/securecookie", "github.com/gorilla/sessions",
			"database/sql", "github.com/jackc/pgx", "modernc.org/sqlite", "github.com/pressly/goose"}},
}

func TestNoPackageImportsOneAboveIt(t *testing.T) {
	root := ".."
	seen := 0
	for pkg, rule := range layers {
		files, _ := filepath.Glob(filepath.Join(root, pkg, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			seen++
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if pkg == "handlers" && (strings.Contains(string(src), "balena-cloud.com") || strings.Contains(string(src), "/v7/")) {
				t.Errorf("%s knows a balena URL; only apiclient and the configuration do", f)
			}
			ast, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range ast.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if own, ok := strings.CutPrefix(path, module); ok && !slices.Contains(rule.allowed, own) {
					t.Errorf("%s imports %s, which %s may not use", f, own, pkg)
				}
				for _, bad := range rule.forbidden {
					if path == bad || strings.HasPrefix(path, bad+"/") {
						t.Errorf("%s imports %s", f, path)
					}
				}
			}
		}
	}
	if seen == 0 {
		wd, _ := os.Getwd()
		t.Fatalf("no source files found from %s", wd)
	}
}
