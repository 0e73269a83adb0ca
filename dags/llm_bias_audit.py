"""
### LLM bias audit

Sends a counterfactual prompt suite (the same question about a nurse, an engineer, ... asked
neutrally and naming a gender) to the model many times, stores every answer with Spark, and
computes per-answer gender features, so that "does the model treat a female engineer
differently from a male one?" is answered with numbers.

**Trigger with params** (or let the weekly schedule run the defaults): the form describes each.
Unpausing the DAG (also "Unpause on trigger") starts the weekly schedule, whose runs audit the
defaults: `occupations-gender`, sequential, up to 50 samples per prompt (about 11,000 requests for
a fair model, at most 36,000; hours on the local model). A deployment sets its own with
`BIAS_AUDIT_DAG_DEFAULTS`; `bias-audit plan` shows what a run will ask before it starts.
`suite` is a built-in suite (`seed-lab`, `occupations-gender`, `winobias`, `decisions-gender`)
or a YAML suite file in the folder the deployment gives DAG runs (`$BIAS_AUDIT_SUITES_DIR`,
default `$BIAS_AUDIT_HOME/suites`; a file of the system prompt too: no other file is read);
`mode` sequential (the default) samples in rounds and stops as soon as the verdict is settled,
at `max_samples` per prompt or within
`budget_requests` (20 000 by default) and `budget_tokens`; `mode` fixed takes `samples` answers
per prompt (a conf that gives `samples` without `mode` asks for a fixed run); `fail_on` names the
verdicts that fail the run.

Remote providers take their settings from the Airflow connection `azure_openai_default`
(host = endpoint, password = API key or empty for Entra ID, extra = `{"deployment": ...,
"api_version": ...}`) or `openai_default` (host = base URL, password = key, extra =
`{"model": ...}`); without it, from `AZURE_OPENAI_*` / `OPENAI_*` in the worker's environment.

Output: `$BIAS_AUDIT_HOME/runs/<run_id>/report.html` (verdict, findings, plots, the answers),
`responses.jsonl` (every answer) beside it, and the tables `runs`, `responses`, `features`,
`metrics`, `looks` (sequential runs) and `comparisons` (runs with a `baseline`) under
`$BIAS_AUDIT_HOME/warehouse` (Parquet, by run_id).
**Compute**: local Spark in the worker (default), or a Databricks cluster with
`BIAS_AUDIT_COMPUTE=databricks` (settings in the Variable `bias_audit_databricks`, see docs/databricks.md).
`stop_compute` always runs, also when a task fails. The `gate` task fails the run on a verdict
that `fail_on` names, after the report is written. On failure, the DAG's callback hands a summary
to the notifier named by `$BIAS_AUDIT_ON_FAILURE` or the Variable `bias_audit_on_failure`
(`module:function`). The audit pages are in the UI under Browse → Bias audits.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, TriggerRule, dag, setup, task, teardown

from bias_audit import stages
from bias_audit.compute import backend_name, local
from bias_audit.orchestration.connections import judge_settings, provider_settings
from bias_audit.orchestration.gate import (
    comparison_gate,
    fail_fast_on_user_error,
    fail_if_stopped_by_hand,
    verdict_gate,
    watch_tasks,
)
from bias_audit.orchestration.notify import on_audit_failure
from bias_audit.orchestration.params import baseline_spec, dag_params, run_config
from bias_audit.paths import runs_dir

BACKEND = backend_name()  # BIAS_AUDIT_COMPUTE: local (default) or databricks
# The audit's tasks between the setup and the teardown: the watcher's, and the teardown's check of a
# run stopped by hand (Mark as failed).
STAGES = ["generate", "analyze", "report", "gate"]

# Updated by every analysis: other DAGs can be scheduled on it (schedule=[METRICS_ASSET]).
METRICS_ASSET = Asset("bias_audit_metrics")


@dag(
    dag_id="llm_bias_audit",
    description="Audits an LLM for gender bias: counterfactual prompts, within-case gaps, a verdict",
    doc_md=__doc__,
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    tags=["bias-audit", "llm", "responsible-ai"],
    on_failure_callback=on_audit_failure,
    params=dag_params(),  # every parameter of RunConfig, then baseline, fail_on_increase, fail_on
)
def llm_bias_audit():
    stages = _databricks_stages() if BACKEND == "databricks" else _local_stages()
    handle, generated, analyzed, reported, gated, stopped = stages
    handle >> generated
    generated >> analyzed >> reported >> gated
    reported >> stopped

    watched = [generated, analyzed, reported, gated]

    @task(trigger_rule=TriggerRule.ALL_DONE, retries=0)
    def watcher(ti=None) -> None:
        """Fails the run when any task failed (the teardown's success must not hide a failure);
        succeeds, green in the grid, when none did."""
        watch_tasks(ti, [getattr(t, "operator", t).task_id for t in watched])

    # The run's state is decided by its leaves: the watcher and the teardown, which can fail the
    # run itself (on_failure_fail_dagrun: compute that did not stop, or a run stopped by hand).
    # Without the watcher a successful stop_compute would mark a run whose generate failed as
    # successful; the teardown must stay a leaf (nothing downstream of it), or Airflow ignores its
    # failure. (Setups may only feed ALL_SUCCESS tasks; a failed start_compute reaches it via generate.)
    watched >> watcher()


def _local_stages():
    """Backend local: every stage runs in the worker, Spark in local mode."""

    @setup
    def start_compute() -> dict:
        return local.start()

    @task
    def generate(params: dict | None = None, run_id: str | None = None, dag_run=None) -> dict:
        with fail_fast_on_user_error():
            config = run_config(params, run_id, conf=dag_run.conf)
            origin = {"airflow_dag_id": dag_run.dag_id, "airflow_run_id": run_id}
            judge = judge_settings(config.judge) if config.judge != "none" else None
            settings = provider_settings(config.provider)
            return stages.generate(config, settings, origin=origin, judge_settings=judge)

    @task(outlets=[METRICS_ASSET])
    def analyze(generated: dict) -> dict:
        with fail_fast_on_user_error():
            return stages.analyze(generated["run_id"])

    @task
    def report(analyzed: dict, params: dict | None = None, run_id: str | None = None) -> dict:
        with fail_fast_on_user_error():
            baseline = baseline_spec(params.get("baseline"), scheduled=run_id.startswith("scheduled__"))
            return stages.report(analyzed["run_id"], baseline=baseline)

    @task(retries=0)
    def gate(analyzed: dict, reported: dict, params: dict | None = None) -> str:
        with fail_fast_on_user_error():
            verdict = verdict_gate(analyzed, params["fail_on"], reported["report"])
            comparison_gate(reported.get("comparison"), params.get("fail_on_increase", False))
            return verdict

    @teardown(on_failure_fail_dagrun=True)
    def stop_compute(handle: dict, ti=None) -> None:
        local.stop(handle)
        fail_if_stopped_by_hand(ti, STAGES)

    handle = start_compute()
    generated = generate()
    analyzed = analyze(generated)
    reported = report(analyzed)
    return handle, generated, analyzed, reported, gate(analyzed, reported), stop_compute(handle)


def _databricks_stages():
    """Backend databricks: a cluster per audit; each stage a python_wheel_task run on it."""
    from bias_audit.compute import databricks

    @setup
    @task(multiple_outputs=True, retries=0)
    def start_compute(params: dict | None = None, run_id: str | None = None, dag_run=None) -> dict:
        with fail_fast_on_user_error():
            config = run_config(
                params, run_id, conf=dag_run.conf
            )  # a bad param fails here, before a cluster exists
            baseline = baseline_spec(params.get("baseline"), scheduled=run_id.startswith("scheduled__"))
            judge = judge_settings(config.judge) if config.judge != "none" else None
            return databricks.start(config, provider_settings(config.provider), baseline, judge)

    @task(retries=0)
    def gate(params: dict | None = None, ti=None) -> str:
        """Reads analyze's result, copies the report to the UI's runs folder, applies fail_on."""
        with fail_fast_on_user_error():
            analyzed = databricks.stage_result(ti.xcom_pull(task_ids="analyze", key="run_id"))
            reported = databricks.stage_result(ti.xcom_pull(task_ids="report", key="run_id"))
            report = databricks.mirror(analyzed, runs_dir(), compared=bool(reported.get("comparison")))
            verdict = verdict_gate(analyzed, params["fail_on"], str(report))
            comparison_gate(reported.get("comparison"), params.get("fail_on_increase", False))
            return verdict

    @teardown(on_failure_fail_dagrun=True)
    def stop_compute(handle: dict, ti=None) -> None:
        databricks.stop(handle)
        fail_if_stopped_by_hand(ti, STAGES)

    handle = start_compute()
    generated = databricks.submit_task("generate", handle["generate"])
    analyzed = databricks.submit_task("analyze", handle["analyze"], outlets=[METRICS_ASSET])
    reported = databricks.submit_task("report", handle["report"])
    return handle, generated, analyzed, reported, gate(), stop_compute(handle)


llm_bias_audit()
