#!/usr/bin/env bash
# .ci/stack/check.sh — validates what of the deployable stack can be checked
# without a Docker engine or Terraform: docker-compose.yml (Debian's
# docker-compose parses and interpolates it), the compose Prometheus
# configuration (promtool), and configs/terraform (parsed by python-hcl2 from
# PyPI, in a virtualenv cached in $CINCH_CACHE).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../lib.sh
. .ci/lib.sh
CI_LOG_TAG=stack
command -v docker-compose >/dev/null 2>&1 || apt_install docker-compose
command -v promtool >/dev/null 2>&1 || APT_NO_START=1 apt_install prometheus

ci_log "docker-compose config"
CINCH_VIEWER_TOKEN=ci-check docker-compose -f docker-compose.yml config -q
if env -u CINCH_VIEWER_TOKEN docker-compose -f docker-compose.yml config -q >/dev/null 2>&1; then
  ci_die "docker-compose.yml must refuse to start without CINCH_VIEWER_TOKEN"
fi

ci_log "promtool check config (compose Prometheus)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e "s|/etc/prometheus/cinch/|$PWD/dashboards/prometheus/|" \
    -e "s|/prometheus/cinch-token|$tmp/token|" configs/prometheus/prometheus.yml >"$tmp/prometheus.yml"
printf 'token' >"$tmp/token"
promtool check config "$tmp/prometheus.yml" >/dev/null

ci_log "terraform files parse (python-hcl2)"
venv="$CINCH_CACHE/venv-hcl2"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import hcl2' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "python-hcl2==8.1.4"
fi
"$venv/bin/python" - configs/terraform/*.tf <<'PY'
import sys, hcl2
blocks = {}
for path in sys.argv[1:]:
    with open(path) as f:
        doc = hcl2.load(f)
    for kind, items in doc.items():
        blocks.setdefault(kind, 0)
        blocks[kind] += len(items) if isinstance(items, list) else 1
for want in ("resource", "variable", "output", "data", "terraform"):
    if not blocks.get(want):
        sys.exit(f"configs/terraform: no {want} block")
print("configs/terraform:", ", ".join(f"{v} {k}" for k, v in sorted(blocks.items())))
PY
