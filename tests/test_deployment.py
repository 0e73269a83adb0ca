"""The audit in a running Airflow deployment, as docker-compose.yml configures it but without
Docker (scripts/native_airflow.py): Debian's PostgreSQL, the scheduler with the LocalExecutor, the
dag-processor and the api-server, each a process of its own, with the project's DAG and plugin.

One deployment serves three runs (the DAG runs one at a time), each with the local model:
- a run triggered through the REST API with params, which it must use: a slice of the task suite
  winobias (whom a pronoun is resolved to), checked through its tables and report;
- a run triggered from the UI's trigger form, filled in a real browser (Playwright driving
  Debian's Chromium) with values that are not the defaults: a slice of the decision suite
  decisions-gender; its verdict must then be on the Bias audits page;
- the scheduled run that unpausing the DAG starts, with the deployment's defaults
  (``BIAS_AUDIT_DAG_DEFAULTS``: seed-lab, one sample per prompt);
- then a run stopped by hand (Mark as failed) while it generates: it must end failed, its note
  saying it was stopped.
Each run's verdict in words must be its note, written by the plugin's listener in the scheduler.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from bias_audit.run_folder import safe_run_id

pytestmark = pytest.mark.slow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from native_airflow import Deployment  # noqa: E402
from native_airflow import rest as api  # noqa: E402

DAG = "llm_bias_audit"
DEFAULTS = {"suite": "seed-lab", "mode": "fixed", "samples": 1, "max_tokens": 4}  # scheduled audits
CHROMIUM = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]  # fmt: skip


def runs(deployment: Deployment) -> dict[str, dict]:
    return {r["dag_run_id"]: r for r in api(deployment, f"dags/{DAG}/dagRuns?limit=50")["dag_runs"]}


def wait(condition, timeout: float, what: str, deployment: Deployment):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(3)
    raise AssertionError(f"{what} within {timeout:.0f} s; logs in {deployment.home}/logs")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    # PostgreSQL runs as the user postgres, who must be able to enter the folder (pytest's are private)
    home = Path(tempfile.mkdtemp(prefix="bias-audit-deployment-"))
    home.chmod(0o755)
    deployment = Deployment(
        home, all_admins=True, triggerer=False, env={"BIAS_AUDIT_DAG_DEFAULTS": json.dumps(DEFAULTS)}
    )
    deployment.start()
    try:
        wait(lambda: _parsed(deployment), 120, "the DAG was not parsed", deployment)
        yield deployment
    finally:
        deployment.stop()
        shutil.rmtree(home, ignore_errors=True)


def _parsed(deployment: Deployment) -> bool:
    try:
        return api(deployment, f"dags/{DAG}")["is_paused"] is True
    except urllib.error.HTTPError:
        return False


def fill_and_submit_the_trigger_form(deployment: Deployment, suite: Path, screenshot: Path) -> None:
    """The trigger form as a person fills it: a suite file, 3 samples instead of 1, 5 tokens
    instead of the suite's, and a verdict that never fails the run; submitted with "Unpause on
    trigger" ticked."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{deployment.url}/dags/{DAG}")
        page.get_by_role("button", name="Trigger").click()
        dialog = page.get_by_role("dialog")
        dialog.locator("[name=element_suite]").fill(str(suite))
        dialog.locator("input[name=element_samples]").fill("3")
        dialog.get_by_text("Generation settings (empty: the suite's)").click()
        dialog.locator("input[name=element_max_tokens]").fill("5")
        dialog.get_by_text("The verdict", exact=True).click()
        dialog.locator("input[name=element_fail_on]").locator("xpath=..").get_by_role("combobox").click()
        page.get_by_text("never: log a warning only", exact=True).click()
        page.screenshot(path=str(screenshot), full_page=True)
        dialog.get_by_role("button", name="Trigger", exact=True).click()
        page.wait_for_timeout(1000)
        browser.close()


def test_rest_form_and_schedule_in_a_running_deployment(deployment):
    from tests.test_decisions import small_decisions
    from tests.test_tasks import small_winobias

    before = set(runs(deployment))
    suites = deployment.suites  # the folder DAG runs may read (BIAS_AUDIT_SUITES_DIR's default)
    winobias = small_winobias(suites / "winobias-small.yaml")
    decisions = small_decisions(
        suites / "decisions-small.yaml", ("small-business-loan", "bail", "visa", "credit-limit")
    )
    # 1. the REST API, with params, while the DAG is paused: queued until it is unpaused
    conf = {"mode": "fixed", "samples": 2, "max_tokens": 6, "suite": str(winobias)}
    rest = api(deployment, f"dags/{DAG}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]
    # 2. the trigger form, which unpauses the DAG: the schedule then starts its run too
    fill_and_submit_the_trigger_form(deployment, decisions, deployment.home / "form.png")
    made = wait(lambda: set(runs(deployment)) - before - {rest}, 60, "no run from the form", deployment)
    assert api(deployment, f"dags/{DAG}")["is_paused"] is False
    scheduled = wait(
        lambda: [r for r in runs(deployment).values() if r["run_type"] == "scheduled"],
        60, "unpausing started no scheduled run", deployment,
    )  # fmt: skip
    (form,) = [r for r in made if runs(deployment)[r]["run_type"] == "manual"]
    assert (
        runs(deployment)[form]["conf"]["samples"] == 3
        and runs(deployment)[form]["conf"]["fail_on"] == "never"
    )

    ids = [rest, form, scheduled[0]["dag_run_id"]]
    done = wait(
        lambda: all(runs(deployment)[i]["state"] in ("success", "failed") for i in ids) and runs(deployment),
        900, "the three runs did not finish", deployment,
    )  # fmt: skip
    assert [done[i]["state"] for i in ids] == ["success"] * 3, {i: done[i]["state"] for i in ids}

    data = deployment.home / "data" / "runs"
    manifests = {i: json.loads((data / safe_run_id(i) / "run.json").read_text()) for i in ids}
    assert (manifests[rest]["samples"], manifests[rest]["max_tokens"]) == (2, 6)  # the REST params
    assert (manifests[form]["samples"], manifests[form]["max_tokens"]) == (3, 5)  # the form's
    scheduled_run = manifests[ids[2]]
    assert (scheduled_run["samples"], scheduled_run["max_tokens"], scheduled_run["mode"]) == (1, 4, "fixed")
    for i in ids:  # the verdict in words is every run's note (the grid and the run header show it)
        analysis = json.loads((data / safe_run_id(i) / "analysis.json").read_text())
        assert done[i]["note"] == f"Bias audit: {analysis['run']['verdict_summary']}"
    check_the_task_suites(deployment, safe_run_id(rest), safe_run_id(form))

    # the form's run and its verdict on the Bias audits page, in the browser
    from playwright.sync_api import sync_playwright

    verdict = json.loads((data / safe_run_id(form) / "analysis.json").read_text())["verdict"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{deployment.url}/bias-audit/")
        row = page.locator(f"tr[data-run-id='{safe_run_id(form)}']")
        assert verdict in row.inner_text()
        browser.close()

    stop_a_run_by_hand(deployment)


def stop_a_run_by_hand(deployment: Deployment) -> None:
    """Mark as failed (the REST API's PATCH of the run's state) while generate runs: the run must
    end failed, not green, with the teardown stopping compute and the note saying why."""
    from bias_audit.orchestration.run_note import STOPPED

    conf = {"mode": "fixed", "samples": 40, "max_tokens": 40, "suite": "seed-lab-es"}
    run = api(deployment, f"dags/{DAG}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]

    def states() -> dict[str, str | None]:
        found = api(deployment, f"dags/{DAG}/dagRuns/{run}/taskInstances")["task_instances"]
        return {t["task_id"]: t["state"] for t in found}

    wait(lambda: states().get("generate") == "running", 180, "generate did not start", deployment)
    api(deployment, f"dags/{DAG}/dagRuns/{run}", {"state": "failed"}, method="PATCH")
    done = wait(
        lambda: runs(deployment)[run]["state"] in ("success", "failed") and states()["stop_compute"] in (
            "success", "failed"
        ) and runs(deployment)[run],
        180, "the stopped run did not end", deployment,
    )  # fmt: skip
    final = states()
    assert done["state"] == "failed", final
    assert final["generate"] == "failed" and final["watcher"] == "skipped", final
    assert done["note"] == f"Bias audit: no verdict; {STOPPED}"


def check_the_task_suites(deployment: Deployment, winobias: str, decisions: str) -> None:
    """What the two task suites' runs stored: every answer parsed, their own metrics, subgroups
    and regression, and their plots in the report."""
    from bias_audit.scoring.tasks import UNPARSED
    from bias_audit.stats.metrics import LEVEL, OVERALL
    from bias_audit.tables import open_tables

    tables = open_tables(deployment.home / "data" / "warehouse")
    runs_dir = deployment.home / "data" / "runs"

    features = list(tables.rows("features", winobias))
    assert len(features) == 8 * 2 * 2
    assert all(f["choice"] is not None for f in features if f["outcome"] in ("ok", "truncated"))
    assert {f["choice"] for f in features} & {"janitor", "accountant", "chief", "assistant"}
    metrics = list(tables.rows("metrics", winobias))
    overall = {(m["metric"], m["group_a"], m["group_b"]) for m in metrics if m["scope"] == OVERALL}
    assert {("accuracy", "pro", "anti"), ("unparsed", "pro", "anti"), ("accuracy", "pro", LEVEL)} <= overall
    assert not any(m["metric"] in ("sentiment", "gender_skew") for m in metrics)
    subgroups = {m["scope"] for m in metrics if "=" in m["scope"]}
    assert subgroups == {"type=1", "type=2", "anti_pronoun=female", "anti_pronoun=male"}
    report = (runs_dir / winobias / "report.html").read_text()
    assert "task_levels.png" in report and "By case attribute" in report and "parsed" in report

    features = list(tables.rows("features", decisions))
    assert len(features) == 4 * 2 * 3 * 3
    assert {f["choice"] for f in features} <= {"yes", "no", UNPARSED}
    assert all((f["yes_rate"] is None) == (f["choice"] == UNPARSED) for f in features)
    metrics = list(tables.rows("metrics", decisions))
    overall = {(m["metric"], m["group_a"], m["group_b"]) for m in metrics if m["scope"] == OVERALL}
    assert {
        ("yes_rate", "female", "male"),
        ("yes_logodds", "female", "male"),
        ("yes_rate", "male", LEVEL),
    } <= overall
    report = (runs_dir / decisions / "report.html").read_text()
    assert "yes_by_scenario.png" in report and "task_levels.png" in report
