#!/usr/bin/env bash
# Set up, then run one real audit through the Airflow DAG on the embedded defaults:
# the local model (Gemma 3 270M), local Spark, the built-in suite seed-lab (the lab's prompts).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo  # what the demo needs; make test installs the test tooling
. scripts/env.sh

say() { printf '\033[1m[demo]\033[0m %s\n' "$*"; }
mkdir -p "$AIRFLOW_HOME" "$BIAS_AUDIT_HOME"
say "migrating the Airflow metadata database in $AIRFLOW_HOME"
airflow db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/db-migrate.log"; exit 1; }

# The lab's ten prompts (seed-lab), sequentially, at most 10 samples per prompt (two rounds), keep the
# demo to a few minutes on the local model. The DAG's own defaults ('{}') audit occupations-gender
# (540 prompts, up to 50 samples each: a verdict that can pass, hours on the local model);
# DEMO_CONF='{"suite": "seed-lab", "samples": 2}' runs a fixed audit.
DEMO_CONF=${DEMO_CONF-'{"suite": "seed-lab", "max_samples": 10}'}
marker=$(mktemp)
say "running the DAG llm_bias_audit (airflow dags test): generate -> analyze -> report, about 2 minutes"
if ! airflow dags test llm_bias_audit ${DEMO_CONF:+--conf "$DEMO_CONF"} 2>&1 | tee "$BIAS_AUDIT_HOME/demo.log"; then
  say "airflow dags test failed; the log is in $BIAS_AUDIT_HOME/demo.log"
  exit 1
fi

run_dir=$(find "$BIAS_AUDIT_HOME/runs" -mindepth 1 -maxdepth 1 -type d -newer "$marker" -printf '%T@ %p\n' 2>/dev/null \
  | sort -n | tail -n1 | cut -d' ' -f2-)
rm -f "$marker"
if [ -z "$run_dir" ] || [ ! -f "$run_dir/report.html" ]; then
  say "the DAG run did not finish its analysis; the log is in $BIAS_AUDIT_HOME/demo.log"
  exit 1
fi
say "audit finished: run $(basename "$run_dir")"
say "answers (one JSON record each): $run_dir/responses.jsonl ($(wc -l < "$run_dir/responses.jsonl") records)"
say "tables (Parquet, partitioned by run_id): $BIAS_AUDIT_HOME/warehouse/{runs,responses,features,metrics,looks}"
say "analysis summary: $run_dir/analysis.json"
say "verdict: $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['verdict'])" "$run_dir/analysis.json")"
say "sampling: $(python3 -c "
import json, sys
run = json.load(open(sys.argv[1]))['run']
if run.get('mode') == 'sequential':
    print(f\"sequential, {run['rounds']} round(s), up to {run['samples']} samples per prompt, stopped: {run['stop_reason']}\")
else:
    print(f\"fixed, {run['samples']} samples per prompt\")
" "$run_dir/analysis.json")"
say "report: $run_dir/report.html (open it in a browser; plots beside it)"
say "trends across audits: $BIAS_AUDIT_HOME/runs/trends.html"
cat "$run_dir/analysis.json"
