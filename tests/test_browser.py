"""The plugin page in a real browser: Airflow's api-server (a real process, plugins loaded from
plugins/) serves it, Debian's headless Chromium renders it, and the runs table shows a real run."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import AUDITED_RUN_ID as RUN_ID

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def api_server(airflow_db, audited, tmp_path):
    runs, _ = audited
    port = free_port()
    env = {
        **os.environ,
        "BIAS_AUDIT_HOME": str(runs.parent),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    }
    airflow = Path(sys.executable).with_name("airflow")
    log = (tmp_path / "api-server.log").open("w")
    server = subprocess.Popen(
        [str(airflow), "api-server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"api-server did not start:\n{(tmp_path / 'api-server.log').read_text()[-3000:]}")
            time.sleep(1)
    yield base
    os.killpg(server.pid, 15)
    server.wait(timeout=30)


class RunsTable(HTMLParser):
    """The rows of <table id="runs">: run ids, cell texts and links."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []
        self._in_table = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "runs":
            self._in_table = True
        elif self._in_table and tag == "tr" and "data-run-id" in attrs:
            self.rows.append({"run_id": attrs["data-run-id"], "cells": [], "links": []})
        elif self._in_table and tag == "a" and self.rows:
            self.rows[-1]["links"].append(attrs.get("href"))

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False

    def handle_data(self, data):
        if self._in_table and self.rows and data.strip():
            self.rows[-1]["cells"].append(data.strip())


def render(url: str, profile: Path) -> str:
    chromium = shutil.which("chromium")
    assert chromium, "the browser test needs Debian's chromium (scripts/ensure-chromium.sh installs it)"
    done = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_runs_table_renders_in_headless_chromium(api_server, tmp_path):
    dom = render(f"{api_server}/bias-audit/", tmp_path / "profile")
    table = RunsTable()
    table.feed(dom)
    mine = next((row for row in table.rows if row["run_id"] == RUN_ID), None)
    assert mine is not None, dom[:2000]
    assert RUN_ID in mine["cells"] and "local" in mine["cells"] and "test-model" in mine["cells"]
    assert "inconclusive" in mine["cells"]
    assert mine["links"] == [f"{api_server}/bias-audit/runs/{RUN_ID}/report.html"]
    report = render(mine["links"][0], tmp_path / "profile")
    assert f"Bias audit <code>{RUN_ID}</code>" in report and "neutral_df" in report
    # the pages follow Airflow's light/dark toggle (kept by its UI in localStorage "theme"), the
    # one script their Content-Security-Policy lets run; else the browser's preference
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=list(CHROMIUM_FLAGS[1:]))
        page = browser.new_page(color_scheme="light")
        blocked = []
        page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{api_server}/bias-audit/")

        def background() -> str:
            return page.evaluate("getComputedStyle(document.body).backgroundColor")

        assert background() == "rgb(255, 255, 255)"
        page.evaluate("localStorage.setItem('theme', 'dark')")  # Airflow's toggle set to dark
        page.reload()
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        assert background() == "rgb(17, 24, 39)"
        page.goto(mine["links"][0])  # the report too
        assert background() == "rgb(17, 24, 39)"
        dark_browser = browser.new_page(color_scheme="dark")
        dark_browser.goto(f"{api_server}/bias-audit/")
        dark_browser.evaluate("localStorage.setItem('theme', 'light')")  # Airflow set to light
        dark_browser.reload()
        assert (
            dark_browser.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
        )
        browser.close()
    assert blocked == []  # the theme script ran: the policy allows it by its hash
