#!/usr/bin/env bash
# .ci/packages.sh — installs, in one apt transaction and before any service
# starts, every Debian package the test run needs that the machine lacks, so
# that the service scripts started in parallel never race for the dpkg lock.
# Maintainer scripts may not start services (the scripts start their own).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
. .ci/lib.sh
CI_LOG_TAG=packages
pkgs=(
  maven                                 # Kafka's jars from Maven Central (.ci/kafka)
  clickhouse-server clickhouse-client   # ClickHouse 18.16 (.ci/clickhouse)
  prometheus                            # promtool (.ci/prometheus)
  docker-compose                        # docker-compose config (.ci/stack)
  chromium fonts-dejavu-core            # the dashboard's browser tests (.ci/browser)
)
APT_NO_START=1 apt_install "${pkgs[@]}"
