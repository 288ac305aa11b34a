#!/usr/bin/env bash
# .ci/kafka/stop.sh [WORK_DIR] — stop the broker started by start.sh with the same WORK_DIR.
# SIGTERM (Kafka shuts down cleanly, flushing logs), bounded wait, then SIGKILL.
# The data dir is kept: start.sh afterwards restarts the same broker with its data.
# Idempotent: exits 0 when nothing is running.
#
# Environment: CINCH_WORK (default WORK_DIR is $CINCH_WORK/kafka),
#              KAFKA_STOP_TIMEOUT (seconds before SIGKILL, default 30).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$HERE/../lib.sh"
CI_LOG_TAG=kafka

WORK="${1:-$CINCH_WORK/kafka}"
PID_FILE="$WORK/kafka.pid"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"

if [[ ! -f "$PID_FILE" ]]; then
  ci_log "not running (no $PID_FILE)"
  exit 0
fi
pid=$(cat "$PID_FILE")
if pid_alive "$pid" && pid_cmdline_has "$pid" kafka.Kafka; then
  ci_log "stopping broker pid $pid"
  t0=$(ci_now)
  rc=0
  stop_pid "$pid" "$KAFKA_STOP_TIMEOUT" || rc=$?
  ((rc == 1)) && ci_die "could not stop pid $pid"
  ci_log "stopped in $(($(ci_now) - t0))s$( ((rc == 2)) && echo ' (SIGKILL)')"
else
  rc=2
  ci_log "pid $pid from $PID_FILE is not a running broker; cleaning up"
fi
rm -f "$PID_FILE"

# A JVM started without a CDS archive dumped one at exit (see start.sh step 5): keep it
# only if the broker exited cleanly on SIGTERM, else the file may be partial.
if [[ -f "$WORK/cds.pending" ]]; then
  read -r cds_tmp cds_final <"$WORK/cds.pending" || true
  if ((rc == 0)) && [[ -s "${cds_tmp:-}" ]]; then
    mv -f "$cds_tmp" "$cds_final" && ci_log "saved JVM class-data archive $cds_final"
  else
    rm -f "${cds_tmp:-}"
  fi
  rm -f "$WORK/cds.pending"
fi
