# shellcheck shell=bash
# .ci/lib.sh — small helpers shared by the .ci service scripts.
# Source it (". .ci/lib.sh"); it defines functions and two directory defaults and
# changes no shell options of the caller beyond what the caller already set.
#
# Environment honoured:
#   CINCH_CACHE          downloads cache, kept OUTSIDE the clone (default /var/cache/cinch-ci)
#   CINCH_WORK           per-machine scratch for service data/logs (default /tmp/cinch-ci)
#   CINCH_RUN_ID         if set (e.g. exported once by .ci/run), `apt-get update` runs at most
#                        once per distinct id; otherwise at most once per CINCH_APT_MAX_AGE s
#   CINCH_APT_MAX_AGE    seconds an earlier `apt-get update` counts as fresh (default 3600)

CINCH_CACHE="${CINCH_CACHE:-/var/cache/cinch-ci}"
CINCH_WORK="${CINCH_WORK:-/tmp/cinch-ci}"

# ci_log MSG... — timestamped line on stderr (stdout stays free for script results).
ci_log() {
  printf '%s [%s] %s\n' "$(date -u +%H:%M:%S.%3N)" "${CI_LOG_TAG:-ci}" "$*" >&2
}

# ci_die MSG... — log and exit 1.
ci_die() {
  ci_log "ERROR: $*"
  exit 1
}

# ci_now — seconds since the epoch (integer).
ci_now() { date +%s; }

# port_open HOST PORT — true if a TCP connect succeeds within 2 s.
port_open() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# wait_for_port HOST PORT TIMEOUT_SECONDS — poll until the port accepts connections.
# Returns 0 when open, 1 after the timeout.
wait_for_port() {
  local host=$1 port=$2 timeout=$3 deadline
  deadline=$(($(ci_now) + timeout))
  until port_open "$host" "$port"; do
    if (($(ci_now) >= deadline)); then
      ci_log "timed out after ${timeout}s waiting for ${host}:${port}"
      return 1
    fi
    sleep 0.2
  done
}

# wait_for_port_closed HOST PORT TIMEOUT_SECONDS — poll until nothing listens there.
wait_for_port_closed() {
  local host=$1 port=$2 timeout=$3 deadline
  deadline=$(($(ci_now) + timeout))
  while port_open "$host" "$port"; do
    (($(ci_now) >= deadline)) && return 1
    sleep 0.2
  done
}

# pid_alive PID — true if the process exists (and is not a zombie).
pid_alive() {
  local pid=$1 state
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  [[ "$state" != "Z" ]]
}

# pid_cmdline_has PID WORD — true if the process's command line contains WORD
# (guards against signalling an unrelated process that reused a stale pid).
pid_cmdline_has() {
  [[ -r "/proc/$1/cmdline" ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}

# stop_pid PID TIMEOUT_SECONDS — SIGTERM, wait (bounded), then SIGKILL if still alive.
# Returns 0 if it exited on SIGTERM (or was not running), 2 if SIGKILL was needed and
# worked, 1 if it survived SIGKILL.
stop_pid() {
  local pid=$1 timeout=$2 deadline
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$(($(ci_now) + timeout))
  while pid_alive "$pid"; do
    if (($(ci_now) >= deadline)); then
      ci_log "pid $pid still alive after ${timeout}s: sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do pid_alive "$pid" || return 2; sleep 0.1; done
      ci_log "pid $pid survived SIGKILL (state $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null))"
      return 1
    fi
    sleep 0.2
  done
}

# apt_update_once — `apt-get update`, at most once per run (see CINCH_RUN_ID above).
apt_update_once() {
  local stamp="$CINCH_WORK/.apt-updated" max_age="${CINCH_APT_MAX_AGE:-3600}"
  mkdir -p "$CINCH_WORK"
  if [[ -f "$stamp" ]]; then
    if [[ -n "${CINCH_RUN_ID:-}" ]]; then
      [[ "$(cat "$stamp")" == "$CINCH_RUN_ID" ]] && return 0
    elif (($(ci_now) - $(stat -c %Y "$stamp") < max_age)); then
      return 0
    fi
  fi
  ci_log "apt-get update"
  apt-get update -qq >&2 || ci_die "apt-get update failed (rc $?)"
  printf '%s\n' "${CINCH_RUN_ID:-}" >"$stamp"
}

# apt_missing PKG... — prints the packages among PKG... that are not installed.
apt_missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || printf '%s\n' "$p"
  done
}

# apt_install PKG... — install whatever of PKG... is missing (no-op, no network, when all are
# present). Set APT_NO_START=1 to forbid maintainer scripts from starting services
# (policy-rc.d returning 101), as infra-notes.md prescribes for clickhouse-server.
apt_install() {
  local missing
  missing=$(apt_missing "$@")
  [[ -z "$missing" ]] && return 0
  [[ $(id -u) -eq 0 ]] || ci_die "need root to install: $missing"
  apt_update_once
  ci_log "apt-get install ${missing//$'\n'/ }"
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [[ "${APT_NO_START:-0}" == 1 && ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    own_policy=1
  fi
  local rc=0 log="$CINCH_WORK/apt-install.log"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >"$log" 2>&1 || rc=$?
  ((own_policy)) && rm -f "$policy"
  if ((rc != 0)); then
    tail -n 30 "$log" >&2
    ci_die "apt-get install failed ($rc): $missing"
  fi
}

# java_major — prints the major version of `java` on PATH (empty if none).
java_major() {
  command -v java >/dev/null 2>&1 || return 0
  java -XshowSettings:properties -version 2>&1 |
    awk -F'= ' '/java.specification.version/ {print $2; exit}'
}

# ensure_java17 — a Java >= 17 runtime on PATH (Kafka 4.x brokers need 17).
ensure_java17() {
  local v
  v=$(java_major)
  if [[ -z "$v" ]] || ((${v%%.*} < 17)); then
    apt_install openjdk-17-jre-headless
    v=$(java_major)
    if [[ -z "$v" ]] || ((${v%%.*} < 17)); then
      ci_die "need Java >= 17 on PATH (found '${v:-none}')"
    fi
  fi
}

# ensure_maven — `mvn` on PATH.
ensure_maven() {
  command -v mvn >/dev/null 2>&1 || apt_install maven
  command -v mvn >/dev/null 2>&1 || ci_die "mvn not found after install"
}
