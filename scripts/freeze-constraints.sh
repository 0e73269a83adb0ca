#!/usr/bin/env bash
# Regenerate constraints.txt from a working .venv after changing the dependencies in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# Exact versions of every package the project installs, with what they pull in (pip freeze of a"
  echo "# working .venv). Airflow's constraint files cannot be downloaded here, so these pins make installs"
  echo "# reproducible. Regenerate with scripts/freeze-constraints.sh."
  .venv/bin/pip freeze --exclude-editable --exclude bias-audit \
    | sed -E 's|^llama_cpp_python @ .*|llama_cpp_python==0.3.36|'
} > constraints.txt
