from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from bias_audit.config import safe_run_id

DAG_ID = "llm_bias_audit"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def test_dags_import_without_errors_and_have_tags_and_retries(dagbag):
    assert dagbag.import_errors == {}
    assert dagbag.dags, "no DAG found"
    for dag in dagbag.dags.values():
        assert dag.tags, dag.dag_id
        assert dag.default_args.get("retries", 0) >= 1, dag.dag_id


def test_audit_dag_shape(dagbag):
    dag = dagbag.dags[DAG_ID]
    tasks = {task.task_id: task for task in dag.tasks}
    assert set(tasks) == {"start_compute", "generate", "analyze", "report", "stop_compute", "watcher"}
    assert tasks["start_compute"].is_setup and tasks["stop_compute"].is_teardown
    assert tasks["generate"].upstream_task_ids == {"start_compute"}
    assert tasks["analyze"].upstream_task_ids == {"generate"}
    assert tasks["report"].upstream_task_ids == {"analyze"}
    assert [outlet.name for outlet in tasks["analyze"].outlets] == ["bias_audit_metrics"]
    assert tasks["stop_compute"].upstream_task_ids == {"start_compute", "report"}
    assert tasks["watcher"].upstream_task_ids == {"generate", "analyze", "report", "stop_compute"}
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert set(dag.params) >= {"suite", "samples", "temperature", "max_tokens", "provider"}


def _run(conf: dict):
    # A freshly parsed DAG for each run: in one process, a run's conf would otherwise leak into the
    # params of the next (in production each task runs in a process of its own).
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags[DAG_ID]
    dagrun = dag.test(run_conf=conf)
    states = {ti.task_id: ti.state for ti in dagrun.get_task_instances()}
    return dagrun, states


@pytest.mark.slow
def test_dag_run_end_to_end_stores_the_answers(airflow_db, spark):
    from bias_audit.analyze.job import read_table

    dagrun, states = _run({"samples": 2, "max_tokens": 8})
    assert dagrun.state == "success", states
    assert states == {
        **dict.fromkeys(["start_compute", "generate", "analyze", "report", "stop_compute"], "success"),
        "watcher": "skipped",
    }

    run_id = safe_run_id(dagrun.run_id)
    home = Path(os.environ["BIAS_AUDIT_HOME"])
    warehouse = home / "warehouse"
    responses = read_table(spark, warehouse, "responses", run_id)
    assert responses.count() == 20
    assert {r["variant"] for r in responses.select("variant").distinct().collect()} == {
        "neutral",
        "male",
        "female",
    }
    assert read_table(spark, warehouse, "features", run_id).count() == 20
    run = read_table(spark, warehouse, "runs", run_id).collect()
    assert len(run) == 1 and run[0]["samples"] == 2 and run[0]["max_tokens"] == 8
    summary = json.loads((home / "runs" / run_id / "analysis.json").read_text())
    assert summary["responses"] == 20
    report = (home / "runs" / run_id / "report.html").read_text()
    assert run_id in report and summary["verdict"] in report

    # idempotent re-run of the same audit: the analysis replaces rows, never duplicates them
    from bias_audit.compute import local

    local.analyze(run_id)
    assert read_table(spark, warehouse, "responses", run_id).count() == 20
    assert read_table(spark, warehouse, "runs", run_id).count() == 1


@pytest.mark.slow
def test_failed_generation_still_stops_compute_and_fails_the_run(airflow_db):
    dagrun, states = _run({"suite": "no-such-suite", "samples": 1})
    assert dagrun.state == "failed", states
    assert states["generate"] == "failed"  # no retry: a bad suite will not get better
    assert states["analyze"] == states["report"] == "upstream_failed"
    assert states["stop_compute"] == "success"
    assert states["watcher"] == "failed"


@pytest.mark.slow
def test_dag_audits_azure_through_an_airflow_connection(airflow_db, monkeypatch, caplog):
    from airflow import settings
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    from tests.fake_azure_openai import FakeAzureOpenAI

    caplog.set_level(logging.DEBUG)
    with FakeAzureOpenAI() as server:
        key = server.state.api_key
        connection = {
            "conn_type": "generic",
            "host": server.endpoint,
            "password": key,
            "extra": {"deployment": "gpt-4o", "api_version": "2024-10-21"},
        }
        monkeypatch.setenv("AIRFLOW_CONN_AZURE_OPENAI_DEFAULT", json.dumps(connection))
        for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_DEPLOYMENT"):
            monkeypatch.delenv(name, raising=False)
        dagrun, states = _run({"provider": "azure", "samples": 2, "tpm": 100_000})
        assert dagrun.state == "success", states
        assert len(server.state.received) == 20
        assert server.state.received[0]["headers"]["api-key"] == key

    run_dir = Path(os.environ["BIAS_AUDIT_HOME"]) / "runs" / safe_run_id(dagrun.run_id)
    records = [json.loads(line) for line in (run_dir / "responses.jsonl").read_text().splitlines()]
    assert {(r["provider"], r["model"], r["outcome"]) for r in records} == {("azure", "gpt-4o", "ok")}
    with settings.Session() as session:
        xcoms = session.scalars(select(XComModel).where(XComModel.run_id == dagrun.run_id)).all()
        assert xcoms, "the tasks pushed no XCom"
        stored = " ".join(str(x.value) for x in xcoms)
    for text in (
        stored,
        caplog.text,
        (run_dir / "responses.jsonl").read_text(),
        (run_dir / "run.json").read_text(),
    ):
        assert key not in text
