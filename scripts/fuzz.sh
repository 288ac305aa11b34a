#!/usr/bin/env bash
# Runs every fuzz target of the repository for a short time beyond its seeds
# (the seeds themselves run in `go test`). Usage: scripts/fuzz.sh [fuzztime]
#
# A finding always writes a reproducer under testdata/fuzz/<target>/ and fails
# the run, with the reproducer printed. Go's fuzzing engine also fails, rarely
# and without any input, when its wall-clock deadline races a worker that the
# machine starved of CPU ("context deadline exceeded", "fuzzing process hung or
# terminated unexpectedly" without a written input; golang/go#51484, #56238,
# #75804). Such a run is repeated once, and fails the script if it fails again.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
logdir=$(mktemp -d /tmp/cinch-fuzz.XXXXXX)
trap 'rm -rf "$logdir"' EXIT

# engine_flake PKG TARGET LOG: true when LOG shows only the engine's
# deadline/hang failure. A hang that wrote an input counts as a flake only when
# that input then passes on its own (it is removed again); any other failure
# message, panic or test error is a finding.
engine_flake() {
  local pkg=$1 target=$2 log=$3 input
  grep -qE 'context deadline exceeded|fuzzing process hung or terminated unexpectedly' "$log" || return 1
  grep -qE '_test\.go:[0-9]+:|^panic: [^d]' "$log" && return 1
  input=$(grep -o 'testdata/fuzz/[^ ]*' "$log" | head -1 || true)
  if [ -n "$input" ]; then
    go test -count=1 -run "^${target}\$/^$(basename "$input")\$" "$pkg" >"$log.rerun" 2>&1 || return 1
    rm -f "$pkg/$input"
  fi
  return 0
}

run_target() {
  local pkg=$1 target=$2 log=$logdir/$2.log
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1
}

status=0
for f in $(git ls-files '*_test.go'); do
  pkg=./$(dirname "$f")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    if run_target "$pkg" "$target"; then
      continue
    fi
    if engine_flake "$pkg" "$target" "$logdir/$target.log"; then
      echo "fuzz: $target in $pkg: engine deadline/hang without an input; running it again:" >&2
      tail -5 "$logdir/$target.log" >&2
      if run_target "$pkg" "$target"; then
        continue
      fi
    fi
    echo "fuzz target $target in $pkg failed:" >&2
    tail -40 "$logdir/$target.log" >&2
    status=1
  done
done
exit $status
