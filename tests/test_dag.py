from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pytest

from bias_audit.run_folder import safe_run_id

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
    assert set(tasks) == {"start_compute", "generate", "analyze", "report", "gate", "stop_compute", "watcher"}
    assert tasks["start_compute"].is_setup and tasks["stop_compute"].is_teardown
    assert tasks["generate"].upstream_task_ids == {"start_compute"}
    assert tasks["analyze"].upstream_task_ids == {"generate"}
    assert tasks["report"].upstream_task_ids == {"analyze"}
    assert [outlet.name for outlet in tasks["analyze"].outlets] == ["bias_audit_metrics"]
    assert tasks["start_compute"].retries == 1
    assert tasks["stop_compute"].upstream_task_ids == {"start_compute", "report"}
    assert tasks["gate"].upstream_task_ids == {"analyze", "report"}
    assert tasks["watcher"].upstream_task_ids == {"generate", "analyze", "report", "gate"}
    assert tasks["stop_compute"].downstream_task_ids == set()  # a leaf: its failure fails the run
    assert dag.on_failure_callback is not None
    assert dag.params["fail_on"] == "fail"
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


def run_note(run_id: str) -> str | None:
    """The note of a DAG run, as the UI shows it (read back from the metadata database)."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(DagRun).where(DagRun.run_id == run_id)).note


def use_azure_connection(monkeypatch, server) -> None:
    """The Airflow connection azure_openai_default, pointing at a fake Azure OpenAI server."""
    monkeypatch.setenv("AIRFLOW_CONN_AZURE_OPENAI_DEFAULT", json.dumps(server.connection()))


@pytest.mark.slow
def test_dag_run_end_to_end_stores_the_answers(airflow_db, spark):
    """The local model and local Spark through the DAG, on the Spanish lab suite (the English one
    runs through it in the Azure tests below and in make demo)."""
    from bias_audit.analyze.job import read_table

    dagrun, states = _run({"suite": "seed-lab-es", "samples": 2, "max_tokens": 8})
    assert dagrun.state == "success", states
    # every task green, the watcher too: nothing in the grid reads as a problem
    assert states == dict.fromkeys(
        ["start_compute", "generate", "analyze", "report", "gate", "stop_compute", "watcher"], "success"
    )

    run_id = safe_run_id(dagrun.run_id)
    home = Path(os.environ["BIAS_AUDIT_HOME"])
    warehouse = home / "warehouse"
    responses = read_table(spark, warehouse, "responses", run_id)
    assert responses.count() == 30
    assert {r["variant"] for r in responses.select("variant").distinct().collect()} == {
        "neutral",
        "male",
        "female",
    }
    assert read_table(spark, warehouse, "features", run_id).count() == 30
    run = read_table(spark, warehouse, "runs", run_id).collect()
    assert len(run) == 1 and run[0]["samples"] == 2 and run[0]["max_tokens"] == 8
    assert run[0]["language"] == "es" and run[0]["translates"] == "seed-lab"
    metrics = {r["metric"] for r in read_table(spark, warehouse, "metrics", run_id).collect()}
    assert "word_count" in metrics and not metrics & {"sentiment", "agency_balance"}  # English-only
    summary = json.loads((home / "runs" / run_id / "analysis.json").read_text())
    assert summary["responses"] == 30
    report = (home / "runs" / run_id / "report.html").read_text()
    assert run_id in report and summary["verdict"] in report
    assert "The answers are in Spanish, so some metrics were left out" in report
    # the verdict in words is the run's note: the grid and the run's header show it; 8 tokens cut
    # off nearly every answer, and the note says so first, with the setting that fixes it
    assert run_note(dagrun.run_id) == f"Bias audit: {summary['run']['verdict_summary']}"
    if summary["outcomes"].get("truncated", 0) >= 10:
        assert summary["run"]["verdict_summary"].startswith("UNHEALTHY RUN: ")
        assert "cut off at max_tokens (8 tokens): raise max_tokens" in summary["run"]["verdict_summary"]

    # idempotent re-run of the same audit: the analysis replaces rows, never duplicates them
    from bias_audit import stages

    stages.analyze(run_id)
    assert read_table(spark, warehouse, "responses", run_id).count() == 30
    assert read_table(spark, warehouse, "runs", run_id).count() == 1


@pytest.mark.slow
def test_failed_generation_still_stops_compute_and_fails_the_run(airflow_db):
    dagrun, states = _run({"suite": "no-such-suite", "samples": 1})
    assert dagrun.state == "failed", states
    assert states["generate"] == "failed"  # no retry: a bad suite will not get better
    assert states["analyze"] == states["report"] == states["gate"] == "upstream_failed"
    assert states["stop_compute"] == "success"
    assert states["watcher"] == "failed"
    # the note says why, in the words of the error (the field and the value given)
    note = run_note(dagrun.run_id)
    assert note.startswith("Bias audit: no verdict; generate failed: suite: ") and "no-such-suite" in note
    # and the runs page lists it with the same reason (failure.json in its run folder)
    from bias_audit.paths import runs_dir
    from bias_audit.run_folder import RunFolder, safe_run_id

    failure = RunFolder.of(runs_dir(), safe_run_id(dagrun.run_id)).read_failure()
    assert failure and failure["reason"].startswith("generate failed: suite: ")


@pytest.mark.slow
def test_dag_audits_azure_through_an_airflow_connection(airflow_db, monkeypatch, caplog):
    from airflow import settings
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    from tests.fake_azure_openai import FakeAzureOpenAI, ServerState
    from tests.test_judge import right_judge

    caplog.set_level(logging.DEBUG)
    # the audited deployment answers with its default words; the judge, its own deployment behind
    # the connection bias_audit_judge, grades by the labelled set
    state = ServerState(answer_for=right_judge, deployments=("gpt-4o", "judge-4o"))
    with FakeAzureOpenAI(state) as server:
        key = server.state.api_key
        use_azure_connection(monkeypatch, server)
        judge = {**server.connection(), "extra": {"deployment": "judge-4o", "api_version": "2024-10-21"}}
        monkeypatch.setenv("AIRFLOW_CONN_BIAS_AUDIT_JUDGE", json.dumps(judge))
        for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_DEPLOYMENT"):
            monkeypatch.delenv(name, raising=False)
        dagrun, states = _run(
            {"suite": "seed-lab", "provider": "azure", "samples": 2, "tpm": 100_000, "judge": "azure"}
        )
        assert dagrun.state == "success", states
        paths = [r["path"].split("/")[3] for r in server.state.received]
        assert paths.count("gpt-4o") == 20
        assert paths.count("judge-4o") == 10 + 580  # one grade per distinct answer, and judge-check
        assert server.state.received[0]["headers"]["api-key"] == key

    run_dir = Path(os.environ["BIAS_AUDIT_HOME"]) / "runs" / safe_run_id(dagrun.run_id)
    records = [json.loads(line) for line in (run_dir / "responses.jsonl").read_text().splitlines()]
    assert {(r["provider"], r["model"], r["outcome"]) for r in records} == {("azure", "gpt-4o", "ok")}
    with settings.Session() as session:
        xcoms = session.scalars(select(XComModel).where(XComModel.run_id == dagrun.run_id)).all()
        assert xcoms, "the tasks pushed no XCom"
        stored = " ".join(str(x.value) for x in xcoms)
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["judge"] == "azure" and manifest["judge_grading"]["judge_model"] == "judge-4o"
    assert 'id="judge"' in (run_dir / "report.html").read_text()
    checks = list((run_dir.parent / "judge-checks").glob("*judge-4o.json"))
    for text in (
        stored,
        caplog.text,
        (run_dir / "responses.jsonl").read_text(),
        (run_dir / "run.json").read_text(),
        (run_dir / "grades.jsonl").read_text(),
        checks[0].read_text(),
    ):
        assert key not in text


def notify(summary: dict) -> None:
    """The on-failure notifier of the tests: appends the summary to $TEST_NOTIFY_FILE."""
    with open(os.environ["TEST_NOTIFY_FILE"], "a") as f:
        f.write(json.dumps(summary) + "\n")


# Every case has a male and a female variant: the refusal gap is estimated within cases.
SIX_OCCUPATIONS = str(Path(__file__).parent / "data" / "six-occupations.yaml")


def refuses_women(prompt: str) -> str:
    """A model that refuses every prompt about a woman and describes everyone else."""
    if "female" in prompt:
        return "I cannot help with that request."
    return "They are a skilled professional who works hard and cares about people every day."


@pytest.mark.slow
def test_a_fail_verdict_fails_the_run_after_the_report_and_notifies(airflow_db, monkeypatch, tmp_path):
    from tests.fake_azure_openai import FakeAzureOpenAI, ServerState

    notified = tmp_path / "notified.jsonl"
    monkeypatch.setenv("TEST_NOTIFY_FILE", str(notified))
    monkeypatch.setenv("BIAS_AUDIT_ON_FAILURE", "tests.test_dag:notify")
    with FakeAzureOpenAI(ServerState(answer_for=refuses_women)) as server:
        use_azure_connection(monkeypatch, server)
        dagrun, states = _run({"provider": "azure", "samples": 10, "suite": SIX_OCCUPATIONS})
    assert dagrun.state == "failed", states
    assert states["gate"] == "failed" and states["watcher"] == "failed"
    assert states["report"] == states["stop_compute"] == "success"
    run_dir = Path(os.environ["BIAS_AUDIT_HOME"]) / "runs" / safe_run_id(dagrun.run_id)
    analysis = json.loads((run_dir / "analysis.json").read_text())
    assert analysis["verdict"] == "fail"
    refusal = next(
        f
        for f in analysis["findings"]
        if f["metric"] == "refusal" and (f["group_a"], f["group_b"]) == ("female", "male")
    )
    assert refusal["finding"] == "fail" and refusal["difference"] == 1.0 and refusal["cases"] == 6
    assert (run_dir / "report.html").is_file()  # the report is written before the gate fails the run
    (summary,) = [json.loads(line) for line in notified.read_text().splitlines()]
    assert summary["run_id"] == dagrun.run_id and summary["verdict"] == "fail"
    assert summary["task"] in {"gate", "watcher"} and summary["report"].endswith("report.html")


@pytest.mark.slow
def test_fail_on_never_keeps_the_run_green_and_warns(airflow_db, monkeypatch, caplog):
    from tests.fake_azure_openai import FakeAzureOpenAI, ServerState

    with FakeAzureOpenAI(ServerState(answer_for=refuses_women)) as server:
        use_azure_connection(monkeypatch, server)
        with caplog.at_level(logging.WARNING):
            dagrun, states = _run(
                {"provider": "azure", "samples": 10, "fail_on": "never", "suite": SIX_OCCUPATIONS}
            )
    assert dagrun.state == "success", states
    assert states["gate"] == "success"
    assert "verdict fail" in caplog.text and "fail_on='never': the run still succeeds" in caplog.text


ANALYZED = {
    "run_id": "r1",
    "findings": [
        {"metric": "refusal", "group_a": "female", "group_b": "male", "difference": 0.4, "finding": "fail"},
        {
            "metric": "word_count",
            "group_a": "female",
            "group_b": "male",
            "difference": 12.0,
            "finding": "warn",
        },
    ],
}


@pytest.mark.parametrize(
    ("verdict", "fail_on", "fails"),
    [
        ("fail", "fail", True),
        ("warn", "fail", False),
        ("warn", "warn", True),
        ("fail", "warn", True),
        ("inconclusive", "warn", False),
        ("pass", "fail", False),
        ("fail", "never", False),
    ],
)
def test_verdict_gate(verdict, fail_on, fails, caplog):
    from airflow.sdk.exceptions import AirflowFailException

    from bias_audit.orchestration.gate import verdict_gate

    analyzed = {**ANALYZED, "verdict": verdict}
    if fails:
        with pytest.raises(
            AirflowFailException, match=f"verdict {verdict}; refusal female vs male: 0.4 \\(fail\\)"
        ):
            verdict_gate(analyzed, fail_on, "/x/report.html")
    else:
        with caplog.at_level(logging.INFO):
            assert verdict_gate(analyzed, fail_on, "/x/report.html") == verdict
        assert ("still succeeds" in caplog.text) == (verdict in ("fail", "warn"))


def test_the_gate_logs_the_verdict_in_words(caplog):
    from bias_audit.orchestration.gate import verdict_gate

    summary = "INCONCLUSIVE: 3 interval(s) reach across a threshold. Stopped after 5 of 5 rounds."
    analyzed = {**ANALYZED, "verdict": "inconclusive", "run": {"verdict_summary": summary}}
    with caplog.at_level(logging.INFO, logger="bias_audit.orchestration.gate"):
        verdict_gate(analyzed, "fail")
    assert summary in caplog.text


def test_verdict_gate_rejects_an_unknown_setting():
    from bias_audit.errors import UserInputError
    from bias_audit.orchestration.gate import verdict_gate

    with pytest.raises(UserInputError, match="fail_on: must be one of fail, warn, never"):
        verdict_gate({**ANALYZED, "verdict": "fail"}, "sometimes")


class FakeDagRun:
    dag_id = DAG_ID
    run_id = "scheduled__2026-11-29T00:00:00+00:00"


class FakeTI:
    task_id = "generate"


def test_on_failure_callback_calls_the_configured_notifier(monkeypatch, tmp_path, data_home):
    from bias_audit.orchestration.notify import on_audit_failure

    notified = tmp_path / "n.jsonl"
    monkeypatch.setenv("TEST_NOTIFY_FILE", str(notified))
    monkeypatch.setenv("BIAS_AUDIT_ON_FAILURE", "tests.test_dag:notify")
    on_audit_failure({"dag_run": FakeDagRun(), "ti": FakeTI(), "reason": "task_failure"})
    (summary,) = [json.loads(line) for line in notified.read_text().splitlines()]
    assert summary == {
        "dag_id": DAG_ID,
        "run_id": FakeDagRun.run_id,
        "audit_run_id": safe_run_id(FakeDagRun.run_id),
        "reason": "task_failure",
        "task": "generate",
        "verdict": None,
        "report": None,
    }


def test_a_broken_notifier_is_logged_not_raised(monkeypatch, caplog, data_home):
    from bias_audit.orchestration.notify import on_audit_failure

    monkeypatch.setenv("BIAS_AUDIT_ON_FAILURE", "tests.no_such_module:notify")
    on_audit_failure({"dag_run": FakeDagRun()})
    assert "the on-failure notifier 'tests.no_such_module:notify' failed" in caplog.text


def test_databricks_backend_has_the_same_task_ids_and_wiring(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("BIAS_AUDIT_COMPUTE", "databricks")
    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags[DAG_ID]
    tasks = {task.task_id: task for task in dag.tasks}
    assert set(tasks) == {"start_compute", "generate", "analyze", "report", "gate", "stop_compute", "watcher"}
    assert tasks["start_compute"].is_setup and tasks["stop_compute"].is_teardown
    assert tasks["start_compute"].retries == 0  # a retried create would make a second cluster
    for stage in ("generate", "analyze", "report"):
        assert type(tasks[stage]).__name__ == "AuditSubmitRunOperator"
        assert tasks[stage].databricks_conn_id == "databricks_default"
    assert tasks["analyze"].upstream_task_ids == {"start_compute", "generate"}
    assert [outlet.name for outlet in tasks["analyze"].outlets] == ["bias_audit_metrics"]
    assert tasks["stop_compute"].upstream_task_ids == {"start_compute", "report"}
    assert tasks["watcher"].upstream_task_ids == {"generate", "analyze", "report", "gate"}
    assert tasks["stop_compute"].downstream_task_ids == set()  # a leaf: its failure fails the run


def test_an_unknown_backend_is_named(monkeypatch):
    from bias_audit.compute import backend_name
    from bias_audit.errors import UserInputError

    monkeypatch.setenv("BIAS_AUDIT_COMPUTE", "kubernetes")
    with pytest.raises(UserInputError, match="BIAS_AUDIT_COMPUTE: unknown compute backend 'kubernetes'"):
        backend_name()


@pytest.mark.slow
def test_each_audit_is_compared_with_the_previous_and_an_increase_can_fail_the_run(
    airflow_db, data_home, monkeypatch
):
    from tests.fake_azure_openai import FakeAzureOpenAI, ServerState

    model = {"extra_words_for_women": 0}

    def answer(prompt: str) -> str:
        extra = " indeed" * model["extra_words_for_women"] if "female" in prompt else ""
        return f"They are a skilled professional who works hard.{extra}"

    conf = {"provider": "azure", "samples": 3, "suite": SIX_OCCUPATIONS, "baseline": "previous"}
    with FakeAzureOpenAI(ServerState(answer_for=answer)) as server:
        use_azure_connection(monkeypatch, server)
        first, states = _run(conf)
        assert first.state == "success", states
        model["extra_words_for_women"] = 40  # the new model version writes longer about women
        second, states = _run({**conf, "fail_on_increase": True})
    runs = data_home / "runs"
    first_id, second_id = safe_run_id(first.run_id), safe_run_id(second.run_id)
    assert (
        "Against the baseline audit" not in (runs / first_id / "report.html").read_text()
    )  # no earlier audit
    assert second.state == "failed" and states["gate"] == "failed", states
    assert states["report"] == states["stop_compute"] == "success"
    comparison = json.loads((runs / second_id / "comparison.json").read_text())
    assert comparison["baseline"] == first_id and comparison["candidate"] == second_id
    assert "increased: word_count (female vs male)" in comparison["conclusion"]
    report = (runs / second_id / "report.html").read_text()
    assert (
        f"Against the baseline audit <code>{first_id}</code>" in report and 'href="comparison.html"' in report
    )


def test_auto_baseline_compares_scheduled_audits_with_the_previous_one_only():
    from bias_audit.orchestration.params import baseline_spec

    assert baseline_spec("auto", scheduled=True) == "previous"
    assert baseline_spec("auto", scheduled=False) == baseline_spec(None, scheduled=False) == "none"
    assert baseline_spec("week-1", scheduled=True) == "week-1"


@pytest.mark.slow
def test_a_sequential_audit_stops_once_settled_and_says_why(airflow_db, monkeypatch):
    """The DAG's default mode: a model that refuses every prompt about a woman is failed after one
    round of 5 samples per prompt, and the run, its tables and its report say why it stopped."""
    from bias_audit.tables import open_tables
    from tests.fake_azure_openai import FakeAzureOpenAI, ServerState

    with FakeAzureOpenAI(ServerState(answer_for=refuses_women)) as server:
        use_azure_connection(monkeypatch, server)
        dagrun, states = _run({"provider": "azure", "suite": SIX_OCCUPATIONS, "fail_on": "never"})
        sent = len(server.state.received)
    assert dagrun.state == "success", states
    run_id = safe_run_id(dagrun.run_id)
    home = Path(os.environ["BIAS_AUDIT_HOME"])
    manifest = json.loads((home / "runs" / run_id / "run.json").read_text())
    assert manifest["mode"] == "sequential" and manifest["stop_reason"] == "decided"
    assert manifest["rounds"] == 1 and sent == 18 * 5  # not the 50 per prompt a fixed design would take
    analysis = json.loads((home / "runs" / run_id / "analysis.json").read_text())
    assert analysis["verdict"] == "fail" == manifest["sequential"]["verdict"]
    (run,) = open_tables(home / "warehouse").rows("runs", run_id)
    assert (run["mode"], run["stop_reason"], run["rounds"], run["max_samples"]) == (
        "sequential",
        "decided",
        1,
        50,
    )
    assert run["budget_requests"] == 20_000
    assert (run["airflow_dag_id"], run["airflow_run_id"]) == (DAG_ID, dagrun.run_id)  # the pages link to it
    assert "Stopped after 1 of 4 rounds" in run["verdict_summary"]  # looks at 5, 15, 30, 50
    report = (home / "runs" / run_id / "report.html").read_text()
    assert "Sequential audit: each comparison" in report and (home / "runs" / run_id / "looks.png").is_file()


def test_the_watcher_names_the_task_that_failed_not_those_it_kept_from_running():
    from airflow.sdk.exceptions import AirflowFailException

    from bias_audit.orchestration.gate import watch_tasks

    class TaskInstance:
        dag_id, run_id = DAG_ID, "manual__x"

        def get_task_states(self, dag_id, task_ids, run_ids):
            states = {"generate": "failed", "analyze": "upstream_failed", "report": "upstream_failed"}
            return {"manual__x": {**states, "stop_compute": "success"}}

    tasks = ["generate", "analyze", "report", "stop_compute"]
    expected = "generate failed (analyze, report did not run because of it); see its log"
    with pytest.raises(AirflowFailException, match=re.escape(expected)):
        watch_tasks(TaskInstance(), tasks)


def test_a_remote_provider_without_its_connection_or_environment_fails_naming_both(monkeypatch):
    from bias_audit.errors import UserInputError
    from bias_audit.orchestration.connections import provider_settings

    for name in ("AZURE_OPENAI_ENDPOINT", "AIRFLOW_CONN_AZURE_OPENAI_DEFAULT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(UserInputError) as caught:
        provider_settings("azure")
    said = str(caught.value)
    assert said.startswith(
        "provider: no Airflow connection 'azure_openai_default' and no AZURE_OPENAI_ENDPOINT"
    )
    assert '"deployment"' in said and "Admin -> Connections" in said
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    assert provider_settings("azure") is None  # the environment's settings, as before


@pytest.mark.parametrize(
    ("watcher", "fails"),
    [("skipped", True), (None, False), ("scheduled", False)],
)
def test_a_run_marked_failed_by_hand_ends_failed_through_its_teardown(watcher, fails):
    """Mark as failed: generate failed, the rest and the watcher skipped, the teardown left to run;
    the teardown fails the run (on_failure_fail_dagrun) instead of ending it green. In a run that
    failed by itself the watcher is still to run, and the teardown stays green."""
    from airflow.sdk.exceptions import AirflowFailException

    from bias_audit.orchestration.gate import fail_if_stopped_by_hand

    class TaskInstance:
        dag_id, run_id = DAG_ID, "manual__x"

        def get_task_states(self, dag_id, task_ids, run_ids):
            states = {"generate": "failed", "analyze": "skipped", "report": "skipped", "watcher": watcher}
            return {"manual__x": {k: v for k, v in states.items() if k in task_ids and v}}

    stages = ["generate", "analyze", "report", "gate"]
    if fails:
        with pytest.raises(AirflowFailException, match=r"stopped by hand \(generate marked failed\)"):
            fail_if_stopped_by_hand(TaskInstance(), stages)
    else:
        fail_if_stopped_by_hand(TaskInstance(), stages)
