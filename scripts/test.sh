#!/usr/bin/env bash
# Runs every check and test of cinch: gofmt, go vet, staticcheck, unit, property,
# conformance, fuzz-seed and end-to-end tests, against a real Apache Kafka broker
# that it fetches (Maven Central, cached) and starts on 127.0.0.1:19092.
#
# Needs: Go, Java 17 and Maven (for the broker), network access to the Go module
# proxy and Maven Central on the first run. Peer test data: $CINCH_PEERS_DIR
# (default ../shared/peers beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

export CINCH_CACHE=${CINCH_CACHE:-/var/cache/cinch-ci}
mkdir -p "$CINCH_CACHE" 2>/dev/null || export CINCH_CACHE=$HOME/.cache/cinch-ci
export CINCH_WORK=${CINCH_WORK:-$(mktemp -d /tmp/cinch-test.XXXXXX)}
export CINCH_PEERS_DIR=${CINCH_PEERS_DIR:-$(cd "$root/.." && pwd)/shared/peers}
if [ ! -d "$CINCH_PEERS_DIR" ]; then
  echo "test.sh: peer test data not found at $CINCH_PEERS_DIR (set CINCH_PEERS_DIR)" >&2
  exit 1
fi
log() { printf '[test %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Tools, cached outside the clone.
export GOBIN=$CINCH_CACHE/bin
export PATH=$GOBIN:$PATH
if ! staticcheck -version 2>/dev/null | grep -q "(0.8.2)"; then
  log "installing staticcheck"
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2 >&2 || go install honnef.co/go/tools/cmd/staticcheck@latest >&2
fi

# Services: a real Kafka broker for the end-to-end tests (started in the
# background while the static checks run).
services_pid=""
kafka_log=$CINCH_WORK/kafka-start.log
cleanup() {
  # A broker still starting would outlive the stop: let the start finish first.
  if [ -n "$services_pid" ]; then wait "$services_pid" 2>/dev/null || true; fi
  bash .ci/kafka/stop.sh "$CINCH_WORK/kafka" >/dev/null 2>&1 || true
  # --- moto (AWS APIs) ---
  if [ -n "${moto_pid:-}" ]; then wait "$moto_pid" 2>/dev/null || true; fi
  bash .ci/moto/stop.sh "$CINCH_WORK/moto" >/dev/null 2>&1 || true
  # --- end moto ---
}
trap cleanup EXIT
log "starting Kafka (log: $kafka_log)"
( bash .ci/kafka/start.sh "$CINCH_WORK/kafka" >"$CINCH_WORK/kafka.addr" 2>"$kafka_log" ) &
services_pid=$!
# --- moto (AWS APIs): moto's server for the inventory/awsapi, apply and S3 tests ---
log "starting moto (log: $CINCH_WORK/moto-start.log)"
( bash .ci/moto/start.sh "$CINCH_WORK/moto" >"$CINCH_WORK/moto.addr" 2>"$CINCH_WORK/moto-start.log" ) &
moto_pid=$!
# --- end moto ---

log "build and static checks"
go build -o "$CINCH_WORK/cinch" .
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet -tags e2e ./...
staticcheck -tags e2e ./...

if ! wait "$services_pid"; then
  echo "test.sh: Kafka did not start:" >&2
  tail -50 "$kafka_log" >&2
  exit 1
fi
export CINCH_KAFKA_BROKERS=$(cat "$CINCH_WORK/kafka.addr")
# The broker's second listener: SASL_SSL with SCRAM-SHA-512 (see .ci/kafka/start.sh).
# shellcheck disable=SC1091
. "$CINCH_WORK/kafka/env"
export CINCH_KAFKA_SASL_BROKERS=$KAFKA_SASL_BOOTSTRAP CINCH_KAFKA_CA_FILE=$KAFKA_CA_FILE \
  CINCH_KAFKA_SCRAM_USER=$KAFKA_SCRAM_USER CINCH_KAFKA_SCRAM_PASSWORD=$KAFKA_SCRAM_PASSWORD
export CINCH_KAFKA_RESTART="bash $root/.ci/kafka/restart.sh $CINCH_WORK/kafka"
export CINCH_BIN=$CINCH_WORK/cinch
log "Kafka at $CINCH_KAFKA_BROKERS"
# --- moto (AWS APIs) ---
if ! wait "$moto_pid"; then
  echo "test.sh: moto did not start:" >&2
  tail -50 "$CINCH_WORK/moto-start.log" >&2
  exit 1
fi
moto_pid=""
export CINCH_MOTO_ENDPOINT=$(cat "$CINCH_WORK/moto.addr")
log "moto at $CINCH_MOTO_ENDPOINT"
# --- end moto ---

log "go test"
go test -tags e2e -count=1 -timeout 25m ./...

# The concurrent parts once more under the race detector (on kfake: fast).
log "go test -race (daemon, Kafka consumer, parallel analyze)"
go test -race -count=1 -timeout 10m ./daemon/... ./stream/kafka ./cli

# Each fuzz target a short while beyond its seeds (the seeds ran above), with
# the broker stopped so that the fuzzers have the machine's cores.
bash .ci/kafka/stop.sh "$CINCH_WORK/kafka" >/dev/null 2>&1 || true
log "fuzzing (10s per target)"
scripts/fuzz.sh 10s
log "all tests passed"
