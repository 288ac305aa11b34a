# Sourced by scripts/test.sh: the run's work folder (broker data and logs, the
# binary under test). work_init makes one under /tmp unless CINCH_WORK names
# one; work_cleanup removes the folder it made, unless CINCH_KEEP_WORK=1.
# A folder given through CINCH_WORK is the caller's and is never removed.

work_init() {
  if [ -n "${CINCH_WORK:-}" ]; then
    cinch_work_made=""
    mkdir -p "$CINCH_WORK"
  else
    CINCH_WORK=$(mktemp -d /tmp/cinch-test.XXXXXX)
    cinch_work_made=$CINCH_WORK
  fi
  export CINCH_WORK
}

work_cleanup() {
  if [ -z "${cinch_work_made:-}" ]; then return 0; fi
  if [ "${CINCH_KEEP_WORK:-}" = 1 ]; then
    echo "test.sh: work folder kept: $cinch_work_made" >&2
    return 0
  fi
  rm -rf "$cinch_work_made"
}
