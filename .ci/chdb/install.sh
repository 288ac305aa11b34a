#!/usr/bin/env bash
# .ci/chdb/install.sh — install the npm package chdb (an in-process current ClickHouse
# engine) into $CINCH_CACHE/chdb-$CHDB_VERSION, once (flock-guarded, idempotent).
# stdout: the directory holding node_modules/chdb.
set -euo pipefail
CINCH_CACHE=${CINCH_CACHE:-/var/cache/cinch-ci}
CHDB_VERSION=${CHDB_VERSION:-3.4.0}
dir=$CINCH_CACHE/chdb-$CHDB_VERSION
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [[ ! -f "$dir/.installed" ]]; then
  echo "[chdb] npm install chdb@$CHDB_VERSION into $dir" >&2
  (cd "$dir" && [[ -f package.json ]] || printf '{"name":"cinch-chdb","private":true}\n' >"$dir/package.json")
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error "chdb@$CHDB_VERSION" >&2)
  touch "$dir/.installed"
fi
printf '%s\n' "$dir"
