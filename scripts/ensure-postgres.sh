#!/usr/bin/env bash
# The deployment test (tests/test_deployment.py) and `make airflow` run Debian's PostgreSQL; they
# start clusters of their own on free ports, so the package's own service is stopped if it started.
set -euo pipefail
installed() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
if installed; then exit 0; fi
"$(dirname "$0")/ensure-debian-package.sh" postgresql "ls /usr/lib/postgresql/*/bin/initdb" \
  "the deployment test and make airflow"
service postgresql stop >/dev/null 2>&1 || sudo -n service postgresql stop >/dev/null 2>&1 || true
