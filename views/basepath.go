package views

import (
	"context"

	"github.com/keyportal/keyportal/static"
)

type basePathKey struct{}

// WithBasePath records KEYPORTAL_BASE_PATH for the views of a request:
// every page links its CSS, scripts and icon under it. Links to pages need
// none of this, since the handlers reverse routes that already carry it.
func WithBasePath(ctx context.Context, base string) context.Context {
	return context.WithValue(ctx, basePathKey{}, base)
}

// staticURL is the versioned URL of a static file, under the base path.
func staticURL(ctx context.Context, name string) string {
	base, _ := ctx.Value(basePathKey{}).(string)
	return base + static.URL(name)
}
