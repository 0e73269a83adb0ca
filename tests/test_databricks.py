"""The Databricks backend end to end: the real DAG (dag.test), the real Databricks provider hook and
operator, against a local workspace (tests/fake_databricks.py) that runs the project's real wheel;
generation against the fake Azure OpenAI server, its key reaching the cluster from a secret scope."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bias_audit.run_folder import safe_run_id
from tests.fake_azure_openai import FakeAzureOpenAI
from tests.fake_databricks import FakeDatabricks, WorkspaceState

REPO = Path(__file__).resolve().parents[1]
WHEEL_PATH = "dbfs:/FileStore/bias-audit/bias_audit-0.1.0-py3-none-any.whl"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built as `make wheel` builds it."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("bias_audit-*.whl")
    return found


@pytest.fixture
def azure(monkeypatch):
    with FakeAzureOpenAI() as server:
        monkeypatch.setenv("AIRFLOW_CONN_AZURE_OPENAI_DEFAULT", json.dumps(server.connection()))
        for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_DEPLOYMENT"):
            monkeypatch.delenv(name, raising=False)
        yield server


@pytest.fixture
def workspace(monkeypatch, tmp_path, wheel, azure):
    secrets = {("bias-audit", "azure-openai-api-key"): azure.state.api_key}
    state = WorkspaceState(secrets=secrets, volume_root=tmp_path / "workspace")
    with FakeDatabricks(state) as fake:
        settings = {
            "wheel": WHEEL_PATH,
            "upload_wheel_from": str(wheel),
            # a Unity Catalog volume (the fake maps /Volumes to a local folder); the tables: Parquet
            # on this machine, as Delta's jars are not here (on Databricks: catalog:main.bias_audit)
            "runs_dir": "/Volumes/main/bias_audit/runs",
            "tables": str(tmp_path / "workspace" / "warehouse"),
            "poll_seconds": 0.1,
            "start_timeout_seconds": 60,
        }
        monkeypatch.setenv("BIAS_AUDIT_COMPUTE", "databricks")
        monkeypatch.setenv("BIAS_AUDIT_DATABRICKS", json.dumps(settings))
        monkeypatch.setenv("BIAS_AUDIT_DATABRICKS_POLL_SECONDS", "1")
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(fake.connection()))
        yield fake, tmp_path / "workspace"


def run_dag(conf: dict):
    from tests.test_dag import _run

    return _run(conf)


@pytest.mark.slow
def test_audit_runs_on_a_created_cluster_and_terminates_it(airflow_db, workspace, azure, caplog, capfd):
    from airflow import settings as airflow_settings
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    fake, volume = workspace
    caplog.set_level(logging.DEBUG)
    dagrun, states = run_dag({"suite": "seed-lab", "provider": "azure", "samples": 2})
    assert dagrun.state == "success", states
    assert set(states.values()) == {"success"}  # the watcher too: green when nothing failed

    # one single-node cluster, created from the documented spec, terminated at the end
    (cluster,) = fake.state.clusters.values()
    spec = cluster.spec
    assert spec["num_workers"] == 0 and spec["node_type_id"] == "Standard_D4ds_v5"
    assert spec["spark_conf"]["spark.databricks.cluster.profile"] == "singleNode"
    assert spec["autotermination_minutes"] == 20 and spec["data_security_mode"] == "SINGLE_USER"
    assert "-cpu-ml-" in spec["spark_version"]
    assert spec["spark_env_vars"]["AZURE_OPENAI_API_KEY"] == "{{secrets/bias-audit/azure-openai-api-key}}"
    assert spec["spark_env_vars"]["AZURE_OPENAI_ENDPOINT"] == azure.endpoint
    assert cluster.state in ("TERMINATING", "TERMINATED")
    fake.state.advance(cluster)
    assert cluster.state == "TERMINATED"

    # the wheel was uploaded, and each stage ran it as a python_wheel_task on that cluster
    assert fake.state.files[WHEEL_PATH][:2] == b"PK"
    stages = [body["python_wheel_task"]["named_parameters"]["task"] for body in fake.state.submitted]
    assert stages == ["generate", "analyze", "report"]
    for body in fake.state.submitted:
        assert body["existing_cluster_id"] == cluster.cluster_id
        assert body["libraries"] == [{"whl": WHEEL_PATH}]
        assert body["python_wheel_task"]["package_name"] == "bias_audit"
        assert len(body["idempotency_token"]) <= 64
    assert len({body["idempotency_token"] for body in fake.state.submitted}) == 3
    assert all(run.result_state == "SUCCESS" for run in fake.state.runs.values())

    # the audit itself: answers from the model, tables, report, verdict gate
    assert len(azure.state.received) == 20
    assert azure.state.received[0]["headers"]["api-key"] == azure.state.api_key  # from the secret scope
    run_id = safe_run_id(dagrun.run_id)
    on_volume = volume / "Volumes" / "main" / "bias_audit" / "runs"
    assert (on_volume / run_id / "report.html").is_file() and (on_volume / "trends.html").is_file()
    assert (volume / "warehouse" / "metrics" / f"run_id={run_id}").is_dir()

    # the gate copied the analysis and the report to the api-server's runs folder (Files API):
    # the Airflow UI pages list the run with its verdict and serve its report
    from fastapi.testclient import TestClient

    from bias_audit.paths import runs_dir, warehouse_dir
    from bias_audit.web import create_app

    local = runs_dir() / run_id
    assert (local / "report.html").read_bytes() == (on_volume / run_id / "report.html").read_bytes()
    analysis = json.loads((local / "analysis.json").read_text())
    client = TestClient(create_app(runs_dir(), warehouse_dir() / "none-here"))
    page = client.get("/").text
    assert f'data-run-id="{run_id}"' in page and f'<span class="verdict {analysis["verdict"]}">' in page
    assert 'href="http://testserver/runs/trends.html"' in page
    assert client.get(f"/runs/{run_id}/report.html").status_code == 200
    assert client.get("/runs/trends.html").status_code == 200

    # the API key is in no submitted payload, XCom or log
    with airflow_settings.Session() as session:
        xcoms = " ".join(
            str(x.value)
            for x in session.scalars(select(XComModel).where(XComModel.run_id == dagrun.run_id)).all()
        )
    key = azure.state.api_key
    printed = capfd.readouterr()  # the task logs of dag.test() go to stdout
    assert "start_compute" in printed.out
    for text in (
        json.dumps(fake.state.submitted),
        json.dumps(spec),
        xcoms,
        caplog.text,
        printed.out,
        printed.err,
    ):
        assert key not in text


@pytest.mark.slow
def test_failed_generation_still_terminates_the_cluster_and_fails_the_run(airflow_db, workspace):
    fake, _ = workspace
    fake.state.secrets[("bias-audit", "azure-openai-api-key")] = "a-wrong-key"  # the model answers 401
    dagrun, states = run_dag({"suite": "seed-lab", "provider": "azure", "samples": 1})
    assert dagrun.state == "failed", states
    assert states["generate"] == "failed"
    assert states["analyze"] == states["report"] == states["gate"] == "upstream_failed"
    assert states["stop_compute"] == "success" and states["watcher"] == "failed"
    assert len(fake.state.runs) == 1  # a refused key is not retried: it would be refused again
    (cluster,) = fake.state.clusters.values()
    fake.state.advance(cluster)
    assert cluster.state == "TERMINATED"
    (run,) = fake.state.runs.values()
    assert run.result_state == "FAILED" and "AZURE_OPENAI_API_KEY" in run.error  # names the setting


@pytest.mark.slow
def test_a_cluster_that_fails_to_start_fails_clearly(airflow_db, workspace, capfd):
    fake, _ = workspace
    fake.state.fail_start = "QUOTA_EXCEEDED: the subscription has no quota left for Standard_D4ds_v5"
    dagrun, states = run_dag({"suite": "seed-lab", "provider": "azure", "samples": 1})
    assert dagrun.state == "failed", states
    assert states["start_compute"] == "failed"
    out = capfd.readouterr().out
    assert "did not start: TERMINATED: QUOTA_EXCEEDED: the subscription has no quota left" in out
    assert fake.state.runs == {}  # nothing was submitted


def test_settings_are_validated_with_the_field_named(monkeypatch):
    from bias_audit.compute.databricks import DatabricksSettings
    from bias_audit.errors import UserInputError

    monkeypatch.setenv("BIAS_AUDIT_DATABRICKS", json.dumps({"wheel": "dbfs:/w.whl", "poll_seconds": -1}))
    message = r"BIAS_AUDIT_DATABRICKS: poll_seconds: Input should be greater than 0 \(value: -1\)"
    with pytest.raises(UserInputError, match=message):
        DatabricksSettings.load()
    monkeypatch.setenv("BIAS_AUDIT_DATABRICKS", json.dumps({"wheel": "dbfs:/w.whl", "clusterr": {}}))
    with pytest.raises(UserInputError, match="clusterr: Extra inputs are not permitted"):
        DatabricksSettings.load()


def test_cluster_spec_overrides_and_secret_references():
    from bias_audit.compute.databricks import DatabricksSettings, cluster_spec

    settings = DatabricksSettings(
        wheel="dbfs:/w.whl",
        secret_scope="llm",
        cluster={"node_type_id": "Standard_D8ds_v5", "policy_id": "ABC", "spark_env_vars": {"TZ": "UTC"}},
    )
    spec = cluster_spec(
        settings, "r1", "openai", {"base_url": "https://llm.example/v1", "model": "m", "api_key": "k"}
    )
    assert spec["node_type_id"] == "Standard_D8ds_v5" and spec["policy_id"] == "ABC"
    assert spec["num_workers"] == 0 and spec["custom_tags"]["bias-audit-run"] == "r1"
    assert spec["spark_env_vars"] == {
        "TZ": "UTC",
        "OPENAI_API_KEY": "{{secrets/llm/openai-api-key}}",
        "OPENAI_BASE_URL": "https://llm.example/v1",
        "OPENAI_MODEL": "m",
    }


def test_idempotency_token_is_per_dag_run_task_and_try():
    from bias_audit.compute.databricks import idempotency_token

    token = idempotency_token("llm_bias_audit", "manual__1", "generate", 1)
    assert token == idempotency_token("llm_bias_audit", "manual__1", "generate", 1) and len(token) == 64
    assert token != idempotency_token("llm_bias_audit", "manual__1", "generate", 2)
    assert token != idempotency_token("llm_bias_audit", "manual__1", "analyze", 1)
    assert token != idempotency_token("llm_bias_audit", "manual__2", "generate", 1)


def test_the_same_token_gives_the_same_run_not_a_second(workspace):
    from bias_audit.compute.databricks import AuditDatabricksHook

    fake, _ = workspace
    hook = AuditDatabricksHook()
    cluster_id = hook.create_cluster(
        {"spark_version": "16.4.x-cpu-ml-scala2.12", "node_type_id": "n", "num_workers": 0}
    )
    body = {
        "run_name": "x",
        "existing_cluster_id": cluster_id,
        "python_wheel_task": {"package_name": "bias_audit", "entry_point": "nope"},
        "idempotency_token": "t-1",
    }
    first = hook.submit_run(body)
    assert hook.submit_run(body) == first
    assert hook.submit_run({**body, "idempotency_token": "t-2"}) != first
    assert len(fake.state.runs) == 2


@pytest.mark.slow
def test_an_existing_terminated_cluster_is_started_used_and_left_as_found(
    airflow_db, workspace, azure, monkeypatch
):
    from bias_audit.compute.databricks import AuditDatabricksHook

    fake, _ = workspace
    hook = AuditDatabricksHook()
    spec = {
        "spark_version": "16.4.x-cpu-ml-scala2.12",
        "node_type_id": "Standard_D4ds_v5",
        "num_workers": 0,
        "spark_env_vars": {  # an existing cluster carries the LLM's settings in its own configuration
            "AZURE_OPENAI_API_KEY": "{{secrets/bias-audit/azure-openai-api-key}}",
            "AZURE_OPENAI_ENDPOINT": azure.endpoint,
            "AZURE_OPENAI_DEPLOYMENT": "gpt-4o",
            "AZURE_OPENAI_API_VERSION": "2024-10-21",
        },
    }
    cluster_id = hook.create_cluster(spec)
    cluster = fake.state.clusters[cluster_id]
    cluster.state, cluster.next_state = "TERMINATED", None
    settings = json.loads(os.environ["BIAS_AUDIT_DATABRICKS"])
    monkeypatch.setenv("BIAS_AUDIT_DATABRICKS", json.dumps({**settings, "existing_cluster_id": cluster_id}))
    dagrun, states = run_dag({"suite": "seed-lab", "provider": "azure", "samples": 1})
    assert dagrun.state == "success", states
    assert list(fake.state.clusters) == [cluster_id]  # no cluster created
    assert ("POST", "/api/2.1/clusters/start", 200) in fake.state.requests
    assert not any(path == "/api/2.1/clusters/delete" for _, path, _ in fake.state.requests)
    fake.state.advance(cluster)
    assert cluster.state == "RUNNING"  # left as found: running, for its owner
    assert {body["existing_cluster_id"] for body in fake.state.submitted} == {cluster_id}


@pytest.mark.slow
def test_a_sequential_audit_runs_its_rounds_on_the_cluster_through_transient_api_errors(
    airflow_db, workspace, azure
):
    """The DAG's default mode on the Databricks backend: the wheel's generate stage samples in
    rounds on the cluster, and its analyze stage reaches the verdict that stopped the sampling;
    the workspace's first answers are throttled or unavailable (429, 503), which are retried."""
    fake, volume = workspace
    fake.state.faults.extend([429, 503, 429])
    dagrun, states = run_dag({"suite": "seed-lab", "provider": "azure", "max_samples": 10})
    assert dagrun.state == "success", states
    statuses = [status for _, _, status in fake.state.requests]
    assert statuses[:4] == [429, 503, 429, 200]
    run_id = safe_run_id(dagrun.run_id)
    manifest = json.loads(
        (volume / "Volumes" / "main" / "bias_audit" / "runs" / run_id / "run.json").read_text()
    )
    assert manifest["mode"] == "sequential" and manifest["max_samples"] == 10
    rounds = manifest["sequential"]["round_log"]
    assert manifest["stop_reason"] in ("decided", "max_samples") and len(rounds) == manifest["rounds"] >= 1
    assert (
        len(azure.state.received)
        == sum(r["requests"] for r in rounds)
        == manifest["sequential"]["requests_spent"]
    )
    analysis = json.loads(
        (Path(os.environ["BIAS_AUDIT_HOME"]) / "runs" / run_id / "analysis.json").read_text()
    )
    assert analysis["verdict"] == manifest["sequential"]["verdict"]
    assert analysis["run"]["stop_reason"] == manifest["stop_reason"]
    assert (volume / "warehouse" / "looks" / f"run_id={run_id}").is_dir()


def test_a_judge_reaches_the_cluster_under_its_prefix():
    from bias_audit.compute.databricks import DatabricksSettings, cluster_env
    from bias_audit.llm.registry import judge_environment

    settings = DatabricksSettings(wheel="dbfs:/FileStore/bias_audit.whl")
    audited = {"endpoint": "https://res.openai.azure.com", "deployment": "gpt-4o", "api_key": "k1"}
    judge = {"endpoint": "https://res.openai.azure.com", "deployment": "gpt-4o-judge", "api_key": "k2"}
    env = cluster_env(settings, "azure", audited, "azure", judge)
    assert env["AZURE_OPENAI_DEPLOYMENT"] == "gpt-4o"
    assert env["BIAS_AUDIT_JUDGE_AZURE_OPENAI_DEPLOYMENT"] == "gpt-4o-judge"
    assert "k1" not in str(env) and "k2" not in str(env)  # keys only as secret references
    # on the cluster, the judge reads its own deployment and the audited resource's key
    seen = judge_environment({**env, "AZURE_OPENAI_API_KEY": "from-the-secret-scope"})
    assert seen["AZURE_OPENAI_DEPLOYMENT"] == "gpt-4o-judge"
    assert seen["AZURE_OPENAI_API_KEY"] == "from-the-secret-scope"
    assert "BIAS_AUDIT_JUDGE_AZURE_OPENAI_DEPLOYMENT" not in cluster_env(settings, "azure", audited)
