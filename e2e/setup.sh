#!/usr/bin/env bash
# Installs what the end-to-end and integration tests need, only when it is
# missing: Debian's Chromium, redis-server, PostgreSQL and caddy (the Go tests
# start their own Redis, PostgreSQL and Caddy on free loopback ports and stop
# them; the package's own cluster is not created, so nothing listens on 5432,
# and the systemd service the caddy package may start is never used), and the
# Playwright driver that playwright-go expects (playwright-core from npm, run
# by the system's node).
# systemd-analyze (Debian's systemd) and caddy also check the systemd unit
# and the Caddyfile of docs/deploy.
# Nothing is downloaded from anywhere but apt and npm.
set -euo pipefail

PW_VERSION=1.52.0
DRV=${PLAYWRIGHT_DRIVER_PATH:-$HOME/.cache/keyportal/pw-driver-$PW_VERSION}
CHROMIUM=${KEYPORTAL_CHROMIUM:-/usr/bin/chromium}

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v caddy >/dev/null || missing+=(caddy)
if [ ${#missing[@]} -gt 0 ]; then
  echo "e2e/setup: installing ${missing[*]} from apt"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [[ " ${missing[*]} " == *" postgresql "* && ! -e /etc/postgresql-common/createcluster.conf ]]; then
    $sudo mkdir -p /etc/postgresql-common
    echo 'create_main_cluster = false' | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
fi

if [ "$("$DRV/node" "$DRV/package/cli.js" --version 2>/dev/null)" != "Version $PW_VERSION" ]; then
  echo "e2e/setup: installing the Playwright $PW_VERSION driver into $DRV"
  rm -rf "$DRV"
  mkdir -p "$DRV"
  (cd "$DRV" && npm pack --silent "playwright-core@$PW_VERSION" >/dev/null \
    && tar xzf "playwright-core-$PW_VERSION.tgz" && rm "playwright-core-$PW_VERSION.tgz" \
    && ln -sfn "$(command -v node)" node)
  test "$("$DRV/node" "$DRV/package/cli.js" --version)" = "Version $PW_VERSION"
fi
