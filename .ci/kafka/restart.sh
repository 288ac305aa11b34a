#!/usr/bin/env bash
# .ci/kafka/restart.sh [WORK_DIR] — stop the broker and start it again on the same data dir
# (same ports, same topics and committed offsets). Prints the bootstrap address like start.sh.
# For tests that bounce the broker mid-stream. Honours the same environment as start.sh/stop.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$HERE/stop.sh" "$@"
exec "$HERE/start.sh" "$@"
