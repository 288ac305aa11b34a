#!/usr/bin/env bash
# Prepares the dashboard's browser tests: Debian's chromium (apt, only when
# missing) and the npm package playwright-core (no browser download) in
# $CINCH_CACHE/browser. Prints the directory holding node_modules.
#
#   CHROMIUM=/usr/bin/chromium NODE_PATH=$(bash .ci/browser/setup.sh)/node_modules node dashboards/web/test/e2e.mjs
set -euo pipefail
CINCH_CACHE=${CINCH_CACHE:-/var/cache/cinch-ci}
PLAYWRIGHT_VERSION=1.65.1
dir=$CINCH_CACHE/browser
log() { printf '[browser %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium (apt)"
  export DEBIAN_FRONTEND=noninteractive
  as_root=""
  [ "$(id -u)" -eq 0 ] || as_root=sudo
  $as_root apt-get update -qq >&2
  $as_root apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
if [ ! -f "$dir/node_modules/playwright-core/package.json" ] ||
   ! grep -q "\"version\": \"$PLAYWRIGHT_VERSION\"" "$dir/node_modules/playwright-core/package.json"; then
  log "installing playwright-core@$PLAYWRIGHT_VERSION into $dir"
  mkdir -p "$dir"
  # Never a browser download: playwright-core has no install script, and
  # the variable makes sure of it.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund --prefix "$dir" \
    "playwright-core@$PLAYWRIGHT_VERSION" >&2
fi
echo "$dir"
