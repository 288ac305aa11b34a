#!/usr/bin/env bash
# .ci/moto/stop.sh [WORK_DIR] — stop the moto server started by start.sh with the same WORK_DIR.
# Idempotent: exits 0 when nothing is running. Environment: CINCH_WORK.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$HERE/../lib.sh"
CI_LOG_TAG=moto

WORK="${1:-$CINCH_WORK/moto}"
PID_FILE="$WORK/moto.pid"
if [[ ! -f "$PID_FILE" ]]; then
  ci_log "not running (no $PID_FILE)"
  exit 0
fi
pid=$(cat "$PID_FILE")
if pid_alive "$pid" && pid_cmdline_has "$pid" moto_server; then
  stop_pid "$pid" 10 || true
  ci_log "stopped pid $pid"
fi
rm -f "$PID_FILE"
