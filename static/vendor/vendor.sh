#!/usr/bin/env bash
# Fetches the pinned front-end files from the npm registry and checks them
# against SHA256SUMS. `vendor.sh check` only checks the committed files.
set -euo pipefail
cd "$(dirname "$0")"

# package@version  file-in-tarball  destination (relative to this folder)
PINS=(
  "htmx.org@2.0.11 package/dist/htmx.min.js htmx.min.js"
  "axe-core@4.14.1 package/axe.min.js ../../e2e/testdata/axe.min.js"
)

if [ "${1:-}" != check ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  for pin in "${PINS[@]}"; do
    read -r pkg src dst <<<"$pin"
    (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
    tar -xzOf "$tmp"/*.tgz "$src" >"$dst"
    rm -f "$tmp"/*.tgz
  done
fi
sha256sum --quiet -c SHA256SUMS
