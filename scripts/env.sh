# Environment shared by the demo and local runs: everything lives under var/ in the repo.
# Source it: `. scripts/env.sh`. Values already set in the environment win.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BIAS_AUDIT_HOME="${BIAS_AUDIT_HOME:-$ROOT/var}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/var/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$ROOT/dags}"
export AIRFLOW__CORE__PLUGINS_FOLDER="${AIRFLOW__CORE__PLUGINS_FOLDER:-$ROOT/plugins}"
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
export PATH="$ROOT/.venv/bin:$PATH"
