#!/usr/bin/env bash
# The deployment test (tests/test_deployment.py) and `make airflow` run Debian's PostgreSQL. Install
# it when missing and this user can (root, or passwordless sudo); otherwise say what to install.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "[setup] the deployment test needs PostgreSQL: run  sudo apt-get install -y postgresql" >&2
  exit 1
fi
echo "[setup] installing Debian's postgresql for the deployment test (about a minute)"
$SUDO apt-get update -qq >/dev/null || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
# the package starts a cluster of its own on port 5432; the tests start theirs on a free port
$SUDO service postgresql stop >/dev/null 2>&1 || true
ls /usr/lib/postgresql/*/bin/initdb >/dev/null
