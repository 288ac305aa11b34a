#!/usr/bin/env bash
# .ci/clickhouse/stop.sh [WORK_DIR] — stop the clickhouse-server started by start.sh with the
# same WORK_DIR: SIGTERM, bounded wait, then SIGKILL. Keeps the data; idempotent.
#
# Environment: CINCH_WORK (default WORK_DIR is $CINCH_WORK/clickhouse),
#              CLICKHOUSE_STOP_TIMEOUT (seconds before SIGKILL, default 20).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$HERE/../lib.sh"
CI_LOG_TAG=clickhouse

WORK="${1:-$CINCH_WORK/clickhouse}"
PID_FILE="$WORK/clickhouse.pid"
STOP_TIMEOUT="${CLICKHOUSE_STOP_TIMEOUT:-20}"

if [[ ! -f "$PID_FILE" ]]; then
  ci_log "not running (no $PID_FILE)"
  exit 0
fi
pid=$(cat "$PID_FILE")
if pid_alive "$pid" && pid_cmdline_has "$pid" clickhouse-server; then
  ci_log "stopping clickhouse-server pid $pid"
  t0=$(ci_now)
  stop_pid "$pid" "$STOP_TIMEOUT" || ci_die "could not stop pid $pid"
  ci_log "stopped in $(($(ci_now) - t0))s"
else
  ci_log "pid $pid from $PID_FILE is not a running clickhouse-server; cleaning up"
fi
rm -f "$PID_FILE"
