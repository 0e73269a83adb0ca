#!/usr/bin/env bash
# Create .venv in the repo root and install the project with its pinned dependencies.
# Idempotent: a second run with nothing changed takes a second.
#   scripts/setup.sh        everything: the tests, make airflow (PostgreSQL drivers), lint
#   scripts/setup.sh demo   only what make demo needs: the local model, Spark, Airflow
PROFILE=${1:-full}
case "$PROFILE" in
  demo) EXTRAS="local,airflow" ;;
  full) EXTRAS="local,airflow,postgres,dev" ;;
  *) echo "scripts/setup.sh: unknown profile '$PROFILE' (demo or full)" >&2; exit 2 ;;
esac
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_VERSION=0.3.36
# llama.cpp's default build tunes for the build machine (-march=native), which turns on AMX kernels
# on CPUs that advertise AMX; those crash (SIGSEGV in ggml_backend_amx_mul_mat) on machines whose
# kernel does not grant AMX tile state, as ours do not. Build for AVX2 instead: portable, and fast
# enough for a 270M model.
# (The flags live in scripts/llama-cmake-args, which the Dockerfile reads too.)
LLAMA_CMAKE_ARGS="$(cat scripts/llama-cmake-args)"
FLAGS_HASH=$(printf '%s' "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-12)
WHEEL_DIR="${BIAS_AUDIT_WHEEL_CACHE:-$HOME/.cache/bias-audit/wheels}/llama-cpp-python-$LLAMA_VERSION-$FLAGS_HASH"
STAMP=.venv/.bias-audit-installed-$PROFILE

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

check_java() {
  local java="java"
  [ -n "${JAVA_HOME:-}" ] && java="$JAVA_HOME/bin/java"
  if ! command -v "$java" >/dev/null 2>&1; then
    say "PySpark needs a Java runtime (17 or 21) and none was found."
    say "Install one, e.g. on Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless"
    say "or set JAVA_HOME to an installed JDK/JRE 17 or 21."
    exit 1
  fi
  local major
  major=$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  case "$major" in
    17|21) ;;
    *) say "Java $major found; PySpark 4.1 needs Java 17 or 21 (e.g. apt-get install -y openjdk-17-jre-headless)"; exit 1 ;;
  esac
}

fresh() {
  [ -f "$1" ] && [ "$1" -nt pyproject.toml ] && [ "$1" -nt constraints.txt ] && [ "$1" -nt "$0" ] \
    && [ "$1" -nt scripts/llama-cmake-args ]
}

check_java
# up to date; everything installed covers the demo's needs too
if fresh "$STAMP" || { [ "$PROFILE" = demo ] && fresh .venv/.bias-audit-installed-full; }; then
  exit 0
fi

PY=$(find_python) || { say "Python 3.11 or newer is needed (python3.11 not found)"; exit 1; }
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip

if ! ls "$WHEEL_DIR"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  say "building llama-cpp-python $LLAMA_VERSION with $LLAMA_CMAKE_ARGS (about 5 minutes, once per machine)"
  mkdir -p "$WHEEL_DIR"
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" .venv/bin/pip wheel --quiet --no-deps --no-cache-dir \
    --wheel-dir "$WHEEL_DIR" "llama-cpp-python==$LLAMA_VERSION"
fi
say "installing the project and its pinned dependencies into .venv"
.venv/bin/pip install --quiet -c constraints.txt --force-reinstall --no-deps "$WHEEL_DIR"/llama_cpp_python-*.whl
.venv/bin/pip install --quiet -c constraints.txt -e ".[$EXTRAS]"
touch "$STAMP"
say "ready: .venv ($PROFILE: $EXTRAS)"
