#!/usr/bin/env bash
# The browser test needs Debian's headless Chromium (/usr/bin/chromium). Install it when missing
# and this user can (root, or passwordless sudo); otherwise say what to install and fail.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "[setup] the browser test needs Chromium: run  sudo apt-get install -y chromium" >&2
  exit 1
fi
echo "[setup] installing Debian's chromium for the browser test (about a minute)"
$SUDO apt-get update -qq >/dev/null || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null
