#!/usr/bin/env bash
# ensure-debian-package.sh PACKAGE CHECK WHAT: the tests need Debian's PACKAGE (present when the
# shell test CHECK succeeds) for WHAT. Install it when missing and this user can (root, or
# passwordless sudo); otherwise say what to install and fail.
set -euo pipefail
package="$1" check="$2" what="$3"
if eval "$check" >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "[setup] $what needs $package: run  sudo apt-get install -y $package" >&2
  exit 1
fi
echo "[setup] installing Debian's $package for $what (about a minute)"
$SUDO apt-get update -qq >/dev/null || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$package" >/dev/null
eval "$check" >/dev/null
