#!/usr/bin/env bash
# .ci/prometheus/check.sh — installs Debian's prometheus package when promtool
# is missing (the service is never started), then checks and unit-tests the
# alerting rules in dashboards/prometheus.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../lib.sh
. .ci/lib.sh
CI_LOG_TAG=prometheus
command -v promtool >/dev/null 2>&1 || APT_NO_START=1 apt_install prometheus
promtool check rules dashboards/prometheus/alerts.yml dashboards/prometheus/thresholds.yml
promtool test rules dashboards/prometheus/alerts_test.yml
