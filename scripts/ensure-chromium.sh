#!/usr/bin/env bash
# The browser tests need Debian's headless Chromium (/usr/bin/chromium).
exec "$(dirname "$0")/ensure-debian-package.sh" chromium "command -v chromium" "the browser tests"
