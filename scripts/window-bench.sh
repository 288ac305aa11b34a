#!/usr/bin/env bash
# window-bench.sh — what the daemon's window costs: peak RSS, Go heap and
# checkpoint bytes of `cinch daemon` replaying RECORDS generated records of
# APPS applications (13 rules each) spread over DAYS days, next to the peak
# RSS of `cinch analyze` on the same file.
#
#   go build -o cinch . && scripts/window-bench.sh 2000000 50 30
#
# Usage: scripts/window-bench.sh RECORDS APPS DAYS [WINDOW] [BUCKET]
# (window 30d and bucket 1h by default). Needs no broker: the daemon reads
# the file through its files input. Prints one JSON line. Work files go to
# $CINCH_WORK (default /tmp/cinch-window-bench); CINCH_BIN is the binary
# (default ./cinch); CINCH_BENCH_PORT the daemon's port (default 29295).
set -euo pipefail
records=${1:?records} apps=${2:?apps} days=${3:?days} window=${4:-30d} bucket=${5:-1h}
bin=$(realpath "${CINCH_BIN:-./cinch}")
port=${CINCH_BENCH_PORT:-29295}
work=${CINCH_WORK:-/tmp/cinch-window-bench}/r$records-a$apps-d$days
rm -rf "$work"
mkdir -p "$work/state"
"$bin" generate --out "$work" --records "$records" --apps "$apps" --days "$days" >/dev/null

# hwm PID: the peak resident set of a running process, in kB.
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Peak RSS of analyze: sample VmHWM until it exits.
"$bin" analyze --inventory "$work/security-groups.json" --inventory "$work/network-interfaces.json" \
	"$work/flows.log.gz" >"$work/analyze.json" 2>"$work/analyze.log" &
apid=$!
apeak=0
while kill -0 "$apid" 2>/dev/null; do
	v=$(hwm "$apid"); [ "${v:-0}" -gt "$apeak" ] && apeak=$v
	sleep 0.05
done
wait "$apid"

token=window-bench-token-0123456789
cat >"$work/daemon.yaml" <<EOF
listen: 127.0.0.1:$port
state_dir: $work/state
inventory:
  security_groups: [$work/security-groups.json]
  network_interfaces: [$work/network-interfaces.json]
files: [$work/flows.log.gz]
analysis:
  window: $window
  bucket: $bucket
checkpoint:
  interval: 2s
auth:
  tokens:
    - {name: bench, role: viewer, token: $token}
EOF
"$bin" daemon --config "$work/daemon.yaml" >"$work/daemon.log" 2>&1 &
dpid=$!
trap 'kill "$dpid" 2>/dev/null || true' EXIT
start=$(date +%s)
until grep -q 'msg="file read"' "$work/daemon.log"; do
	kill -0 "$dpid" 2>/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
	sleep 0.2
done
read_s=$(( $(date +%s) - start ))
sleep 6 # an evaluation and a checkpoint after the last record
heap=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/metrics" |
	awk '/^go_memstats_heap_inuse_bytes/ {printf "%d", $2}')
dpeak=$(hwm "$dpid")
kill -INT "$dpid"
wait "$dpid" || true
trap - EXIT
ckpt=$(find "$work/state" -name '*.ckpt' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
rules=$(grep -o 'rules=[0-9]*' "$work/daemon.log" | head -1 | cut -d= -f2 || true)
printf '{"records":%d,"apps":%d,"rules":%s,"days":%d,"window":"%s","bucket":"%s","daemon_peak_rss_mb":%.1f,"daemon_heap_inuse_mb":%.1f,"checkpoint_bytes":%d,"analyze_peak_rss_mb":%.1f,"read_seconds":%d}\n' \
	"$records" "$apps" "${rules:-0}" "$days" "$window" "$bucket" "$(echo "$dpeak/1024" | bc -l)" \
	"$(echo "${heap:-0}/1048576" | bc -l)" "$ckpt" "$(echo "$apeak/1024" | bc -l)" "$read_s"
