"""Shared fixtures. The environment is set before anything imports Airflow or Spark."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="bias-audit-tests-"))

os.environ.update(
    {
        "BIAS_AUDIT_HOME": str(_SESSION_DIR / "home"),
        # the folder whose suite files DAG runs may name: the tests' own suites
        "BIAS_AUDIT_SUITES_DIR": str(REPO / "tests" / "data"),
        "AIRFLOW_HOME": str(_SESSION_DIR / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # a key of the length the JWT library asks for (the default is shorter and warns)
        "AIRFLOW__API_AUTH__JWT_SECRET": "bias-audit-tests-" + "0" * 48,
    }
)
os.environ.pop("BIAS_AUDIT_WAREHOUSE", None)
# py4j logs its shutdown at INFO from a finalizer, after pytest has closed the streams.
logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole test session (start-up is most of Spark's cost)."""
    from bias_audit.analyze.spark import get_spark

    session = get_spark()
    yield session
    session.stop()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite) in the session's AIRFLOW_HOME."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture
def data_home(tmp_path, monkeypatch) -> Path:
    """A fresh $BIAS_AUDIT_HOME for one test."""
    monkeypatch.setenv("BIAS_AUDIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


AIRFLOW_RUN_ID = "manual__2026-11-29T10:59:26+00:00"
AUDITED_RUN_ID = "manual__2026-11-29T10_59_26_00_00-d35c7ebc"  # the audit folder of AIRFLOW_RUN_ID


@pytest.fixture(scope="session")
def audited(spark, tmp_path_factory):
    """(runs, warehouse) holding one analysed and reported run, AUDITED_RUN_ID, and one run
    analysed without a report."""
    from bias_audit.analyze.job import analyze
    from bias_audit.report import write_report
    from tests.factories import record, write_run

    base = tmp_path_factory.mktemp("web")
    runs, warehouse = base / "runs", base / "warehouse"
    rows = [
        record(AUDITED_RUN_ID, "nurse", variant, i, f"{pronoun} is a nurse <b>{i}</b>.")
        for variant, pronoun in (("neutral", "She"), ("male", "He"))
        for i in range(5)
    ]
    write_run(runs, AUDITED_RUN_ID, rows)
    analyze(AUDITED_RUN_ID, runs, warehouse, spark)
    write_report(AUDITED_RUN_ID, runs, warehouse)
    write_run(runs, "not-reported", [record("not-reported", "nurse", "neutral", 0, "She is.")])
    analyze("not-reported", runs, warehouse, spark)
    return runs, warehouse


# The fast tests (``make test-fast``, ``pytest -m fast``): the pure layers' tests — statistics,
# scoring, task kinds, suites, configuration, the package's structure — without Spark, Airflow, a
# browser, a deployment or the local model. They run in seconds; ``make test`` runs everything.
FAST_MODULES = {
    "test_statistics",
    "test_within_case",
    "test_these_prompts",
    "test_sequential",
    "test_decisions",
    "test_calibrate",
    "test_tasks",
    "test_features",
    "test_gender_terms",
    "test_spanish",
    "test_esbbq",
    "test_metric_registry",
    "test_suites",
    "test_structure",
    "test_extension_points",
    "test_health",
    "test_plan",
    "test_parameters",
    "test_from_prompts",
}
HEAVY_FIXTURES = {"spark", "audited", "airflow_db"}


# make test runs the suite in two worker processes (pytest-xdist, each test file on one): the
# longest files first, so that the deployment test (~3 minutes of mostly waiting on Airflow) runs
# beside the rest instead of after it. Each worker has its own session folder, SparkSession and
# model.
FIRST = ("test_deployment", "test_databricks", "test_sequential")


def _module(item) -> str:
    return item.module.__name__.rpartition(".")[2]


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: FIRST.index(_module(item)) if _module(item) in FIRST else len(FIRST))
    for item in items:  # the sort is stable: each file's tests keep their order
        module = _module(item)
        heavy = HEAVY_FIXTURES & set(getattr(item, "fixturenames", ()))
        marked = item.get_closest_marker("slow") or item.get_closest_marker("heavy")
        if module in FAST_MODULES and not heavy and not marked:
            item.add_marker(pytest.mark.fast)
