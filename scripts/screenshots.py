"""Regenerate the screenshots in docs/images from a real deployment on this machine.

    .venv/bin/python scripts/screenshots.py            # about 5 minutes

Starts the native deployment (scripts/native_airflow.py: PostgreSQL, scheduler, dag-processor,
api-server, the project's DAG and plugin) in a temporary folder, runs two audits with the local
model (the English and the Spanish lab suites, a few samples each), and photographs with Debian's
Chromium (Playwright): the DAG's trigger form, the Bias audits page, a report, and the report in
Airflow's dark mode. The deployment and its folder are removed afterwards.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from native_airflow import Deployment  # noqa: E402
from native_airflow import rest as api  # noqa: E402

DAG = "llm_bias_audit"
IMAGES = ROOT / "docs" / "images"
CHROMIUM = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"]  # fmt: skip
AUDITS = (
    {"suite": "seed-lab", "mode": "fixed", "samples": 3, "max_tokens": 60},
    {"suite": "seed-lab-es", "mode": "fixed", "samples": 3, "max_tokens": 60},
)


def wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := condition():
                return value
        except OSError:
            pass
        time.sleep(3)
    raise SystemExit(f"screenshots: {what} within {timeout:.0f} s")


def main() -> None:
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="bias-audit-screenshots-"))
    home.chmod(0o755)  # PostgreSQL runs as the user postgres, who must enter the folder
    # unpausing starts the schedule's run: the deployment's defaults keep it to a few seconds
    defaults = {"suite": "seed-lab", "mode": "fixed", "samples": 1, "max_tokens": 4}
    deployment = Deployment(
        home, all_admins=True, triggerer=False, env={"BIAS_AUDIT_DAG_DEFAULTS": json.dumps(defaults)}
    )
    deployment.start()
    try:
        wait(lambda: "is_paused" in api(deployment, f"dags/{DAG}"), 180, "the DAG was not parsed")
        ids = [
            api(deployment, f"dags/{DAG}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]
            for conf in AUDITS
        ]
        api(deployment, f"dags/{DAG}", {"is_paused": False}, method="PATCH")

        def finished() -> bool:
            runs = {r["dag_run_id"]: r for r in api(deployment, f"dags/{DAG}/dagRuns")["dag_runs"]}
            return all(runs[i]["state"] in ("success", "failed") for i in ids)

        wait(finished, 900, "the audits did not finish")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM)
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, color_scheme="light")
            page.goto(f"{deployment.url}/dags/{DAG}")
            page.get_by_role("button", name="Trigger").click()
            page.get_by_role("dialog").wait_for()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(IMAGES / "trigger-form.png"))
            page.keyboard.press("Escape")
            page.goto(f"{deployment.url}/bias-audit/")
            page.screenshot(path=str(IMAGES / "runs-page.png"), full_page=True)
            report = page.locator("table#runs a[href$='report.html']").first.get_attribute("href")
            page.goto(report)
            page.screenshot(path=str(IMAGES / "report-seed-lab-es.png"), full_page=False)
            page.evaluate("localStorage.setItem('theme', 'dark')")  # Airflow's toggle set to dark
            page.reload()
            page.screenshot(path=str(IMAGES / "report-dark.png"), full_page=False)
            browser.close()
        print(f"screenshots: written to {IMAGES}")
    finally:
        deployment.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
