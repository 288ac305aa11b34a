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
# The work folder: removed at exit unless CINCH_KEEP_WORK=1 (scripts/workdir.sh).
# shellcheck disable=SC1091
. scripts/workdir.sh
work_init
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

# Debian packages of every service and tool below, in one apt transaction
# before anything starts in parallel (no race for the dpkg lock).
log "Debian packages"
bash .ci/packages.sh

# Services: a real Kafka broker for the end-to-end tests (started in the
# background while the static checks run).
services_pid=""
kafka_log=$CINCH_WORK/kafka-start.log
ch_pid=""
cleanup() {
  # A broker still starting would outlive the stop: let the start finish first.
  if [ -n "$services_pid" ]; then wait "$services_pid" 2>/dev/null || true; fi
  bash .ci/kafka/stop.sh "$CINCH_WORK/kafka" >/dev/null 2>&1 || true
  # --- moto (AWS APIs) ---
  if [ -n "${moto_pid:-}" ]; then wait "$moto_pid" 2>/dev/null || true; fi
  bash .ci/moto/stop.sh "$CINCH_WORK/moto" >/dev/null 2>&1 || true
  # --- end moto ---
  if [ -n "${ch_pid:-}" ]; then wait "$ch_pid" 2>/dev/null || true; fi
  bash .ci/clickhouse/stop.sh "$CINCH_WORK/clickhouse" >/dev/null 2>&1 || true
  work_cleanup
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

# ---- ClickHouse 18.16 (Debian) and chdb (a current engine, npm) for sinks/clickhouse ----
log "starting ClickHouse and installing chdb (logs: $CINCH_WORK/clickhouse-start.log, chdb-install.log)"
( bash .ci/clickhouse/start.sh "$CINCH_WORK/clickhouse" >"$CINCH_WORK/clickhouse.addr" 2>"$CINCH_WORK/clickhouse-start.log" &&
  bash .ci/chdb/install.sh >"$CINCH_WORK/chdb.dir" 2>"$CINCH_WORK/chdb-install.log" ) &
ch_pid=$!
# ---- end ClickHouse ----

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

# --- Prometheus alerting rules (promtool from Debian's prometheus package) ---
log "promtool: check and unit-test the alerting rules"
bash .ci/prometheus/check.sh
log "stack: docker-compose config, compose Prometheus config, Terraform parse"
bash .ci/stack/check.sh
# --- end Prometheus ---
# ---- ClickHouse: what the e2e tests need (CINCH_TEST_*: the daemon itself reads CINCH_CLICKHOUSE_ADDR) ----
if ! wait "$ch_pid"; then
  echo "test.sh: ClickHouse or chdb did not start:" >&2
  tail -50 "$CINCH_WORK/clickhouse-start.log" "$CINCH_WORK/chdb-install.log" >&2 2>/dev/null
  exit 1
fi
ch_pid=""
# shellcheck disable=SC1091
. "$CINCH_WORK/clickhouse/env"
export CINCH_TEST_CLICKHOUSE_ADDR=$CLICKHOUSE_ADDR CINCH_TEST_CLICKHOUSE_HTTP_URL=$CLICKHOUSE_HTTP_URL
export CINCH_TEST_CLICKHOUSE_STOP="bash $root/.ci/clickhouse/stop.sh $CINCH_WORK/clickhouse"
export CINCH_TEST_CLICKHOUSE_START="bash $root/.ci/clickhouse/start.sh $CINCH_WORK/clickhouse"
export CINCH_CHDB_DIR=$(cat "$CINCH_WORK/chdb.dir")
# Tests that stop and restart the server take this flock exclusively (internal/chtest).
export CINCH_TEST_CLICKHOUSE_LOCK=$CINCH_WORK/clickhouse/test.lock
log "ClickHouse at $CINCH_TEST_CLICKHOUSE_ADDR, chdb in $CINCH_CHDB_DIR"
# ---- end ClickHouse ----

log "go test"
go test -tags e2e -count=1 -timeout 25m ./...

# --- bench/otelpeer: its own module (the OpenTelemetry peer benchmark), built
# from its committed go.sum; its tests check that both parsers agree.
log "go test (bench/otelpeer)"
(cd bench/otelpeer && go vet ./... && staticcheck ./... && go test -count=1 ./...)
# --- end bench/otelpeer

# --- dashboard: browser tests (Debian's chromium driven by playwright-core,
# see .ci/browser/setup.sh) against a fresh `cinch daemon --demo` on a free port,
# and the Apply view against a daemon on moto's EC2.
log "dashboard: unit tests of its modules, then browser tests"
node --test dashboards/web/test/unit.mjs
browser_dir=$(bash .ci/browser/setup.sh)
CINCH_BIN=$CINCH_WORK/cinch CINCH_BROWSER_MODULES=$browser_dir/node_modules CHROMIUM=$(command -v chromium) \
  CINCH_SCREENSHOTS=$CINCH_WORK/screenshots node dashboards/web/test/e2e.mjs
# The Apply view against a daemon whose account is moto's (CINCH_MOTO_ENDPOINT).
CINCH_BIN=$CINCH_WORK/cinch CINCH_BROWSER_MODULES=$browser_dir/node_modules CHROMIUM=$(command -v chromium) \
  node dashboards/web/test/apply.mjs
# --- end dashboard ---

# The concurrent parts once more under the race detector (on kfake: fast).
log "go test -race (daemon, Kafka consumer, parallel analyze)"
go test -race -count=1 -timeout 10m ./daemon/... ./stream/kafka ./cli

# Each fuzz target a short while beyond its seeds (the seeds ran above), with
# the broker stopped so that the fuzzers have the machine's cores.
bash .ci/kafka/stop.sh "$CINCH_WORK/kafka" >/dev/null 2>&1 || true
log "fuzzing (10s per target)"
scripts/fuzz.sh 10s
log "all tests passed"
