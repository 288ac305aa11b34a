#!/usr/bin/env bash
# .ci/moto/start.sh [WORK_DIR] — start moto's server (a local implementation of the AWS APIs:
# EC2, S3, AWS Config, CloudWatch Logs, STS) on 127.0.0.1 and wait until it answers.
#
# moto is installed with pip into a virtualenv in the cache ($CINCH_CACHE/moto-<ver>), once;
# later runs reuse it. Idempotent: if the server of WORK_DIR is up it prints the address again.
#
# stdout: exactly one line, the endpoint URL (e.g. http://127.0.0.1:5000); logs go to stderr.
#
# Environment:
#   MOTO_VERSION        moto version from PyPI (default 5.2.1)
#   MOTO_PORT           port on 127.0.0.1 (default 5000)
#   MOTO_START_TIMEOUT  seconds to wait for readiness (default 60)
#   CINCH_CACHE         virtualenv cache (default /var/cache/cinch-ci)
#   CINCH_WORK          default WORK_DIR is $CINCH_WORK/moto (default /tmp/cinch-ci)
#
# Layout: $CINCH_CACHE/moto-<ver>/venv; WORK_DIR/{moto.pid,moto.log}
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$HERE/../lib.sh"
CI_LOG_TAG=moto

MOTO_VERSION="${MOTO_VERSION:-5.2.1}"
MOTO_PORT="${MOTO_PORT:-5000}"
MOTO_START_TIMEOUT="${MOTO_START_TIMEOUT:-60}"
WORK="${1:-$CINCH_WORK/moto}"
URL="http://127.0.0.1:$MOTO_PORT"
PID_FILE="$WORK/moto.pid"
LOG="$WORK/moto.log"
VENV="$CINCH_CACHE/moto-$MOTO_VERSION/venv"

mkdir -p "$WORK"
if [[ -f "$PID_FILE" ]] && pid_alive "$(cat "$PID_FILE")" && port_open 127.0.0.1 "$MOTO_PORT"; then
  ci_log "already running (pid $(cat "$PID_FILE"))"
  echo "$URL"
  exit 0
fi
if port_open 127.0.0.1 "$MOTO_PORT"; then
  ci_die "port $MOTO_PORT is taken by another process (set MOTO_PORT)"
fi

if [[ ! -x "$VENV/bin/moto_server" ]]; then
  command -v python3 >/dev/null || ci_die "python3 is needed for moto"
  ci_log "installing moto[server]==$MOTO_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2 \
    || ci_die "pip install moto[server]==$MOTO_VERSION failed"
fi

ci_log "starting moto $MOTO_VERSION on $URL (log: $LOG)"
setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$LOG" 2>&1 </dev/null &
echo $! >"$PID_FILE"
deadline=$(($(ci_now) + MOTO_START_TIMEOUT))
until curl -fsS -o /dev/null "$URL/moto-api/data.json" 2>/dev/null; do
  pid_alive "$(cat "$PID_FILE")" || { tail -20 "$LOG" >&2; ci_die "moto exited"; }
  (($(ci_now) < deadline)) || { tail -20 "$LOG" >&2; ci_die "moto did not answer within ${MOTO_START_TIMEOUT}s"; }
  sleep 0.2
done
ci_log "ready"
echo "$URL"
