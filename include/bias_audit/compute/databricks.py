"""The Databricks backend: a cluster per audit (or an existing one), the project's wheel on it,
generate / analyze / report as python_wheel_task runs, and the cluster terminated at the end.

Chosen with ``BIAS_AUDIT_COMPUTE=databricks`` in the environment of the scheduler, dag-processor
and workers. Settings (``DatabricksSettings``) come from the Airflow Variable
``bias_audit_databricks`` or the environment variable ``BIAS_AUDIT_DATABRICKS`` (JSON), read when
the tasks run; the workspace and its token from the Airflow connection ``databricks_default``.

This module knows Airflow (the Databricks provider's hook and operator); the code that runs on
the cluster (compute/databricks_job.py) does not.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow.providers.databricks.hooks.databricks import DatabricksHook
from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bias_audit.compute.databricks_job import USAGE_ERROR, result_from_logs
from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError
from bias_audit.llm.registry import ENTRIES, JUDGE_ENV_PREFIX
from bias_audit.run_folder import COMPARISON_PAGE, REPORT_FILE, TRENDS_FILE, RunFolder, trends_page

log = logging.getLogger(__name__)

SETTINGS_VARIABLE = "bias_audit_databricks"
SETTINGS_ENV = "BIAS_AUDIT_DATABRICKS"
CONN_ENV = "BIAS_AUDIT_DATABRICKS_CONN_ID"
PACKAGE = "bias_audit"
ENTRY_POINT = "bias-audit-job"
STAGES = ("generate", "analyze", "report")
DBFS_BLOCK = 1024 * 1024  # the DBFS add-block API takes at most 1 MB per block


class DatabricksSettings(BaseModel):
    """Where and how the audit runs on Databricks. Every field has a default but ``wheel``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    existing_cluster_id: str | None = Field(
        None, description="Run on this cluster (started if terminated) instead of creating one."
    )
    terminate_existing: bool = Field(
        False, description="Terminate the existing cluster at the end too (default: leave it as found)."
    )
    cluster: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the created cluster's spec (clusters/create fields)."
    )
    wheel: str = Field(description="Where the project's wheel is on the workspace: dbfs:/... or /Volumes/...")
    upload_wheel_from: str | None = Field(
        None, description="A local wheel file that start_compute uploads to `wheel` (dbfs: paths only)."
    )
    runs_dir: str = Field("/Volumes/main/bias_audit/runs", description="The runs' files on the cluster.")
    tables: str = Field("catalog:main.bias_audit", description="catalog:<catalog>.<schema> (Delta tables).")
    secret_scope: str = Field("bias-audit", description="The scope that holds the LLM's API keys.")
    start_timeout_seconds: float = Field(1800, gt=0)
    poll_seconds: float = Field(15, gt=0, description="How often cluster and run states are polled.")

    @classmethod
    def load(cls) -> DatabricksSettings:
        text, source = os.environ.get(SETTINGS_ENV), SETTINGS_ENV
        if not text:
            from airflow.sdk import Variable

            text, source = Variable.get(SETTINGS_VARIABLE, default=None), f"Variable {SETTINGS_VARIABLE}"
        if not text:
            raise UserInputError(
                f"the Databricks backend needs its settings (at least 'wheel') in the Airflow Variable "
                f"{SETTINGS_VARIABLE} or ${SETTINGS_ENV}",
                field=SETTINGS_VARIABLE,
            )
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise UserInputError.from_validation(exc, source) from None


def conn_id() -> str:
    return os.environ.get(CONN_ENV, "databricks_default")


# Transient API errors (429, 5xx, connection errors) are retried by the provider's hook, with
# exponential backoff between retry_delay and 2**retry_limit seconds.
RETRY_LIMIT, RETRY_DELAY = 5, 2.0


class AuditDatabricksHook(DatabricksHook):
    """The provider's hook, with what it has no method for: creating a cluster (clusters API 2.1)
    and uploading a file to DBFS (create / add-block / close; the hook only sends JSON)."""

    def create_cluster(self, spec: Mapping[str, Any]) -> str:
        return self._do_api_call(("POST", "2.1/clusters/create"), dict(spec))["cluster_id"]

    def upload_dbfs(self, local: Path, remote: str) -> None:
        path = remote.removeprefix("dbfs:")
        handle = self._do_api_call(("POST", "2.0/dbfs/create"), {"path": path, "overwrite": True})["handle"]
        with local.open("rb") as f:
            while block := f.read(DBFS_BLOCK):
                data = base64.b64encode(block).decode()
                self._do_api_call(("POST", "2.0/dbfs/add-block"), {"handle": handle, "data": data})
        self._do_api_call(("POST", "2.0/dbfs/close"), {"handle": handle})

    def download(self, path: str) -> bytes:
        """A file's bytes: Files API for /Volumes/... (and workspace files), DBFS read for dbfs:/...
        (_do_api_call parses JSON, and the Files API answers raw bytes: hence requests here,
        with the hook's own authentication and retries)."""
        import requests
        from airflow.providers.databricks.hooks.databricks_base import _TokenAuth

        if path.startswith("dbfs:/"):
            return self._read_dbfs(path.removeprefix("dbfs:"))
        url = self._endpoint_url("api/2.0/fs/files/" + path.lstrip("/"))
        headers = {**self.user_agent_header, **self._get_aad_headers()}
        for attempt in self._get_retry_object():
            with attempt:
                response = requests.get(
                    url,
                    auth=_TokenAuth(self._get_token(raise_error=True)),
                    headers=headers,
                    timeout=self.timeout_seconds,
                )
                response.raise_for_status()
                return response.content
        raise AssertionError("unreachable: the retry object raises when it gives up")

    def _read_dbfs(self, path: str) -> bytes:
        data, offset = bytearray(), 0
        while True:
            chunk = self._do_api_call(
                ("GET", "2.0/dbfs/read"), {"path": path, "offset": offset, "length": DBFS_BLOCK}
            )
            if not chunk.get("bytes_read"):
                return bytes(data)
            data.extend(base64.b64decode(chunk["data"]))
            offset += chunk["bytes_read"]


def _hook() -> AuditDatabricksHook:
    return AuditDatabricksHook(databricks_conn_id=conn_id(), retry_limit=RETRY_LIMIT, retry_delay=RETRY_DELAY)


def default_cluster_spec(run_id: str) -> dict[str, Any]:
    """A single-node cluster like the lab's: a current ML runtime without GPU, Standard_D4ds_v5,
    single-user access, autotermination after 20 minutes as a backstop."""
    return {
        "cluster_name": f"bias-audit-{run_id}"[:100],
        "spark_version": "16.4.x-cpu-ml-scala2.12",
        "node_type_id": "Standard_D4ds_v5",
        "num_workers": 0,
        "spark_conf": {"spark.databricks.cluster.profile": "singleNode", "spark.master": "local[*, 4]"},
        "custom_tags": {"ResourceClass": "SingleNode", "bias-audit-run": run_id[:256]},
        "autotermination_minutes": 20,
        "data_security_mode": "SINGLE_USER",
    }


def cluster_env(
    settings: DatabricksSettings,
    provider: str,
    provider_settings: Mapping[str, Any] | None,
    judge: str = "none",
    judge_settings: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """spark_env_vars for the LLM: plain settings as values, keys as secret references (the
    provider's registry entry says which are which). A judge's
    plain settings (from its connection) go under ``BIAS_AUDIT_JUDGE_``-prefixed names, which the
    judge reads before the provider's own (llm/registry.py); its key is the audited provider's
    unless the cluster's spark_env_vars (the Variable) give ``BIAS_AUDIT_JUDGE_..._API_KEY``."""
    env = {
        name: f"{{{{secrets/{settings.secret_scope}/{key}}}}}"
        for name, key in _settings_env(provider)[1].items()
    }
    for prefix, name, values in (
        ("", provider, provider_settings),
        (JUDGE_ENV_PREFIX, judge, judge_settings),
    ):
        for field, variable in _settings_env(name)[0].items():
            value = (values or {}).get(field)
            if value:
                env[f"{prefix}{variable}"] = str(value)
    return env


def _settings_env(name: str) -> tuple[Mapping[str, str], Mapping[str, str]]:
    """A provider's (plain settings -> variables, secret variables -> scope keys) from its registry
    entry (llm/registry.py); none for ``none`` (no judge) and the local model."""
    entry = ENTRIES.get(name)
    return (entry.plain_env, entry.secret_env) if entry else ({}, {})


def cluster_spec(
    settings: DatabricksSettings,
    run_id: str,
    provider: str,
    provider_settings: Mapping[str, Any] | None,
    judge: str = "none",
    judge_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    spec = {**default_cluster_spec(run_id), **settings.cluster}
    spec["spark_env_vars"] = {
        **settings.cluster.get("spark_env_vars", {}),
        **cluster_env(settings, provider, provider_settings, judge, judge_settings),
    }
    return spec


def start(
    config: RunConfig,
    provider_settings: Mapping[str, Any] | None = None,
    baseline: str | None = None,
    judge_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Create (or start) the cluster, wait until it runs, and return the handle: the cluster, and
    the payload of each stage's run (``baseline``: what the report stage compares the run with;
    ``judge_settings``: the judge's connection, for a run with a judge)."""
    settings = DatabricksSettings.load()
    hook = _hook()
    if settings.upload_wheel_from:
        _upload_wheel(hook, settings)
    if settings.existing_cluster_id:
        cluster_id, created = settings.existing_cluster_id, False
        state = hook.get_cluster_state(cluster_id)
        if state.state in ("TERMINATED", "TERMINATING"):
            log.info("starting existing cluster %s (%s)", cluster_id, state.state)
            hook.start_cluster({"cluster_id": cluster_id})
    else:
        spec = cluster_spec(
            settings, config.run_id, config.provider, provider_settings, config.judge, judge_settings
        )
        cluster_id, created = hook.create_cluster(spec), True
        log.info("created cluster %s (%s, %s)", cluster_id, spec["spark_version"], spec["node_type_id"])
    try:
        _wait_running(hook, cluster_id, settings)
    except Exception:
        if created:  # nothing will run on it: do not leave it to autotermination
            hook.terminate_cluster({"cluster_id": cluster_id})
        raise
    handle: dict[str, Any] = {"backend": "databricks", "cluster_id": cluster_id, "created": created}
    for stage in STAGES:
        handle[stage] = stage_payload(stage, config, cluster_id, settings, baseline)
    return handle


def _upload_wheel(hook: AuditDatabricksHook, settings: DatabricksSettings) -> None:
    local = Path(settings.upload_wheel_from or "")
    if not local.is_file() or local.suffix != ".whl":
        raise UserInputError(
            f"no wheel file here (value: {str(local)!r}); run `make wheel`", field="upload_wheel_from"
        )
    if not settings.wheel.startswith("dbfs:/"):
        raise UserInputError(
            f"uploads go to dbfs:/ paths; for a volume use `databricks fs cp` (value: {settings.wheel!r})",
            field="wheel",
        )
    hook.upload_dbfs(local, settings.wheel)
    log.info("uploaded %s to %s", local, settings.wheel)


def _wait_running(hook: AuditDatabricksHook, cluster_id: str, settings: DatabricksSettings) -> None:
    from airflow.sdk.exceptions import AirflowException

    deadline = time.monotonic() + settings.start_timeout_seconds
    while True:
        state = hook.get_cluster_state(cluster_id)
        if state.is_running:
            log.info("cluster %s is %s", cluster_id, state.state)
            return
        if state.state in ("TERMINATING", "TERMINATED", "ERROR", "UNKNOWN"):
            raise AirflowException(
                f"cluster {cluster_id} did not start: {state.state}: {state.state_message or 'no message'}"
            )
        if time.monotonic() > deadline:
            raise AirflowException(
                f"cluster {cluster_id} not running after {settings.start_timeout_seconds:g} s: {state.state}"
            )
        log.info("cluster %s is %s: %s", cluster_id, state.state, state.state_message)
        time.sleep(settings.poll_seconds)


def stage_payload(
    stage: str, config: RunConfig, cluster_id: str, settings: DatabricksSettings, baseline: str | None = None
) -> dict[str, Any]:
    """The runs/submit payload of one stage (without its idempotency token, set per try)."""
    parameters = {"task": stage, "runs_dir": settings.runs_dir, "tables": settings.tables}
    if stage == "generate":
        parameters["run_config"] = config.model_dump_json()
    else:
        parameters["run_id"] = config.run_id
    if stage == "report" and baseline and baseline != "none":
        parameters["baseline"] = baseline
    return {
        "run_name": f"bias-audit {config.run_id} {stage}",
        "existing_cluster_id": cluster_id,
        "libraries": [{"whl": settings.wheel}],
        "python_wheel_task": {
            "package_name": PACKAGE,
            "entry_point": ENTRY_POINT,
            "named_parameters": parameters,
        },
        "timeout_seconds": 0,
    }


def idempotency_token(dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    """One token per DAG run, task and try (at most 64 characters, as the API allows): a repeated
    submit of the same try (the hook retrying a 5xx or a timeout) returns the run already started
    instead of starting a second; a new try (after a failed run) submits anew."""
    return hashlib.sha256(f"{dag_id}/{run_id}/{task_id}/{try_number}".encode()).hexdigest()[:64]


class AuditSubmitRunOperator(DatabricksSubmitRunOperator):
    """DatabricksSubmitRunOperator with this project's idempotency token (per DAG run, task and
    try), and no Airflow retry of a run that failed on bad input (the job exited with its usage
    error, e.g. a refused API key): a retry would fail the same way."""

    def execute(self, context):  # type: ignore[override]
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        try:
            return super().execute(context)
        except AirflowException as exc:
            if USAGE_ERROR in str(exc):
                raise AirflowFailException(str(exc)) from None
            raise

    def _prepare_submit_json(self, context):  # type: ignore[override]
        payload = super()._prepare_submit_json(context)
        ti = context["ti"]
        payload["idempotency_token"] = idempotency_token(ti.dag_id, ti.run_id, ti.task_id, ti.try_number)
        return payload


def submit_task(stage: str, payload: Any, **kwargs: Any) -> AuditSubmitRunOperator:
    """The DAG's task for one stage: submit its payload (an XComArg from start_compute) and wait."""
    return AuditSubmitRunOperator(
        task_id=stage,
        **kwargs,
        json=payload,
        databricks_conn_id=conn_id(),
        polling_period_seconds=int(os.environ.get("BIAS_AUDIT_DATABRICKS_POLL_SECONDS", "15")),
        databricks_retry_limit=RETRY_LIMIT,
        databricks_retry_delay=RETRY_DELAY,
    )


def stage_result(stage_run_id: int) -> dict[str, Any]:
    """What a finished stage printed as its result (e.g. analyze's verdict and findings)."""
    from airflow.sdk.exceptions import AirflowException

    hook = _hook()
    run = hook.get_run(stage_run_id)
    task_runs = [task["run_id"] for task in run.get("tasks", [])] or [stage_run_id]
    output = hook.get_run_output(task_runs[-1])
    result = result_from_logs(output.get("logs", ""))
    if result is None:
        raise AirflowException(
            f"Databricks run {stage_run_id} printed no result line; see {run.get('run_page_url')}"
        )
    return result


def mirror(analyzed: Mapping[str, Any], runs: Path, compared: bool = False) -> Path:
    """Copy what the Airflow UI shows of a run from the workspace to the api-server's runs folder:
    the analysis (verdict, findings, the run's row), the report and the trend page, from the runs
    volume. Returns the local report. (The pages cannot read Unity Catalog; the copy is a few
    hundred kB per run.)"""
    settings, hook = DatabricksSettings.load(), _hook()
    run_id = str(analyzed["run_id"])
    remote = settings.runs_dir.rstrip("/")
    if remote.startswith("/dbfs/"):  # the FUSE view of DBFS: read it through the DBFS API
        remote = "dbfs:" + remote.removeprefix("/dbfs")
    folder = RunFolder.of(runs, run_id)
    folder.write_analysis(analyzed)
    report = folder.report
    report.write_bytes(hook.download(f"{remote}/{run_id}/{REPORT_FILE}"))
    if compared:  # the comparison with the baseline audit, which the report links
        folder.comparison_page.write_bytes(hook.download(f"{remote}/{run_id}/{COMPARISON_PAGE}"))
    trends_page(runs).write_bytes(hook.download(f"{remote}/{TRENDS_FILE}"))
    log.info("copied the report of run %s from %s to %s", run_id, remote, report)
    return report


def stop(handle: Mapping[str, Any]) -> None:
    """Terminate the cluster this run created (an existing one only if configured), and wait until
    it is terminated so that a failure to stop it fails the task."""
    settings = DatabricksSettings.load()
    cluster_id = handle.get("cluster_id")
    if not cluster_id:
        return
    if not handle.get("created") and not settings.terminate_existing:
        log.info("leaving existing cluster %s as found", cluster_id)
        return
    hook = _hook()
    hook.terminate_cluster({"cluster_id": cluster_id})
    deadline = time.monotonic() + settings.start_timeout_seconds
    while (state := hook.get_cluster_state(cluster_id)).state != "TERMINATED":
        if time.monotonic() > deadline:
            from airflow.sdk.exceptions import AirflowException

            raise AirflowException(f"cluster {cluster_id} still {state.state} after terminate")
        time.sleep(settings.poll_seconds)
    log.info("cluster %s terminated", cluster_id)
