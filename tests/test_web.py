"""The audit pages (bias_audit.web) with FastAPI's TestClient, and the Airflow plugin that mounts
them under the real api-server app with Airflow's auth."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bias_audit.web import create_app
from tests.conftest import AIRFLOW_RUN_ID
from tests.conftest import AUDITED_RUN_ID as RUN_ID


@pytest.fixture
def client(audited):
    runs, warehouse = audited
    return TestClient(create_app(runs, warehouse))


def test_index_lists_runs_with_verdicts_and_report_links(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert f'<tr class="run" data-run-id="{RUN_ID}">' in html
    assert '<tr class="run" data-run-id="not-reported">' in html
    assert f'href="http://testserver/runs/{RUN_ID}/report.html">report</a>' in html
    assert "none yet" in html  # the run without a report says so instead of a dead link
    assert 'id="trends-link" href="http://testserver/trends"' in html
    assert '<span class="verdict inconclusive">inconclusive</span>' in html


def test_api_lists_the_same_runs(client):
    runs = client.get("/api/runs").json()
    assert {r["run_id"] for r in runs} == {RUN_ID, "not-reported"}
    mine = next(r for r in runs if r["run_id"] == RUN_ID)
    assert mine["responses"] == 10 and mine["provider"] == "local" and mine["verdict"]


def test_report_and_plots_are_served(client):
    report = client.get(f"/runs/{RUN_ID}/report.html")
    assert report.status_code == 200 and "Bias audit" in report.text
    assert "&lt;b&gt;0&lt;/b&gt;" in report.text  # model output stays text
    png = client.get(f"/runs/{RUN_ID}/gaps.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "path",
    [
        f"/runs/{RUN_ID}/responses.jsonl",  # only plots, not the raw answers
        f"/runs/{RUN_ID}/..%2Frun.json",
        "/runs/..%2F..%2Fetc/report.html",
        f"/runs/{RUN_ID}/missing.png",
    ],
)
def test_unknown_or_unsafe_paths_are_404(client, path):
    assert client.get(path).status_code == 404


def test_dag_run_link_redirects_to_its_audits_report(client):
    response = client.get(f"/dag-runs/{AIRFLOW_RUN_ID}", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == f"http://testserver/runs/{RUN_ID}/report.html"


def test_trend_page_links_reports(client):
    html = client.get("/trends").text
    assert "Bias audit trends" in html
    assert '<a id="all-audits" href="http://testserver/">All bias audits</a>' in html  # back to the list
    assert f'<a href="http://testserver/runs/{RUN_ID}/report.html">{RUN_ID}</a>' in html


def test_empty_warehouse_says_no_runs(tmp_path):
    html = TestClient(create_app(tmp_path / "runs", tmp_path / "wh")).get("/").text
    assert 'id="no-runs"' in html


def test_runs_not_analysed_yet_are_listed_with_what_became_of_them(tmp_path):
    from bias_audit.run_folder import RunFolder

    runs = tmp_path / "runs"
    for run_id, status in (("under-way", "generating"), ("awaiting", "generated")):
        RunFolder.of(runs, run_id).write_manifest(
            {"suite": "seed-lab", "provider": "azure", "model": "gpt-4o", "samples": 5, "mode": "sequential",
             "status": status, "updated_at": "2026-11-29T10:59:26.123456+00:00"}
        )  # fmt: skip
    html = TestClient(create_app(runs, tmp_path / "wh")).get("/").text
    assert '<tr class="run" data-run-id="under-way">' in html and "generating (or stopped" in html
    assert '<tr class="run" data-run-id="awaiting">' in html and "generated, not analysed yet" in html
    assert "2026-11-29 10:59 UTC" in html and "10:59:26.123456" not in html
    assert 'id="no-runs"' not in html


def test_inside_airflow_each_run_links_to_its_dag_run(tmp_path):
    from bias_audit.run_folder import RunFolder

    runs = tmp_path / "runs"
    RunFolder.of(runs, "manual__2026-11-29T10_59_26_00_00").write_manifest(
        {"suite": "seed-lab", "status": "generating", "updated_at": "2026-11-29T10:59:26+00:00",
         "airflow_dag_id": "llm_bias_audit", "airflow_run_id": "manual__2026-11-29T10:59:26+00:00"}
    )  # fmt: skip
    app = create_app(runs, tmp_path / "wh")
    inside = TestClient(app, root_path="/airflow/bias-audit").get("/").text  # mounted under a base URL
    href = "/airflow/dags/llm_bias_audit/runs/manual__2026-11-29T10%3A59%3A26%2B00%3A00"
    assert f'<a class="airflow-run" href="{href}"' in inside
    assert 'class="airflow-run"' not in TestClient(app).get("/").text  # on its own: no Airflow beside it
    # the run as Airflow names it, its folder in the title
    assert ">manual__2026-11-29T10:59:26+00:00</a>" in inside and 'target="_top"' in inside
    assert "its folder: manual__2026-11-29T10_59_26_00_00" in inside


def test_the_list_shows_times_to_the_minute_in_utc(client):
    html = client.get("/").text
    assert " UTC</td>" in html and 'class="run-id"' in html


@pytest.fixture
def airflow_api(airflow_db, audited, monkeypatch):
    """Airflow's own api-server app (plugins loaded from plugins/), simple auth manager with a
    real user, the audit data of ``audited`` as $BIAS_AUDIT_HOME."""
    runs, _ = audited
    monkeypatch.setenv("BIAS_AUDIT_HOME", str(runs.parent))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "auditor:viewer")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    from airflow.api_fastapi.app import create_app as airflow_app
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    app = airflow_app()
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="auditor", role="viewer"))
    return TestClient(app), token


def test_plugin_is_mounted_under_the_api_server_behind_airflow_auth(airflow_api):
    client, token = airflow_api
    assert client.get("/bias-audit/").status_code == 401  # no token: Airflow's auth says no
    page = client.get("/bias-audit/", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200
    assert f'data-run-id="{RUN_ID}"' in page.text
    assert f'href="http://testserver/bias-audit/runs/{RUN_ID}/report.html"' in page.text
    report = client.get(f"/bias-audit/runs/{RUN_ID}/report.html", cookies={"_token": token})
    assert report.status_code == 200  # the UI's session cookie works too (the view is an iframe)


def test_plugin_adds_a_nav_entry_and_a_dag_run_tab(airflow_api):
    client, token = airflow_api
    plugins = client.get("/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}).json()["plugins"]
    mine = next(p for p in plugins if p["name"] == "bias_audit")
    views = {v["name"]: v for v in mine["external_views"]}
    assert views["Bias audits"]["href"] == "/bias-audit/" and views["Bias audits"]["destination"] == "nav"
    assert views["Bias audit report"]["destination"] == "dag_run"
    assert views["Bias audit report"]["href"] == "/bias-audit/dag-runs/{RUN_ID}"
    assert mine["fastapi_apps"][0]["url_prefix"] == "/bias-audit"


def test_two_runs_can_be_compared_from_the_runs_page(client):
    index = client.get("/").text
    assert '<form id="compare" action="http://testserver/compare" method="get">' in index
    assert f'<option value="{RUN_ID}">' in index
    page = client.get("/compare", params={"baseline": "not-reported", "candidate": RUN_ID})
    assert page.status_code == 200 and "Did the gaps change?" in page.text
    assert '<a id="all-audits" href="http://testserver/">All bias audits</a>' in page.text
    assert f'<a href="http://testserver/runs/{RUN_ID}/report.html">candidate</a>' in page.text
    same = client.get("/compare", params={"baseline": RUN_ID, "candidate": RUN_ID})
    assert same.status_code == 400 and same.headers["content-type"].startswith("text/html")
    assert f"The candidate: baseline and candidate are the same run (&#39;{RUN_ID}&#39;)" in same.text
    assert "--candidate" not in same.text and 'id="back"' in same.text
    assert client.get("/compare", params={"baseline": "../x", "candidate": RUN_ID}).status_code == 404
    # a run the report task did not compare with a baseline has no stored comparison
    assert client.get(f"/runs/{RUN_ID}/comparison.html").status_code == 404


@pytest.mark.parametrize(
    ("run_id", "says"),
    [
        (
            "not-reported",
            "was analysed (verdict <strong>inconclusive</strong>), but its\nreport is not written yet",
        ),
        ("no-such-run", "has written nothing yet"),
    ],
)
def test_a_missing_report_is_a_page_that_says_why(client, run_id, says):
    page = client.get(f"/runs/{run_id}/report.html")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert says in page.text and 'href="http://testserver/">All bias audits</a>' in page.text


def test_the_report_links_the_pages_and_the_neighbouring_audits(client):
    from bias_audit.report import airflow_run_link

    report = client.get(f"/runs/{RUN_ID}/report.html").text
    for link in (
        'href="../../">All bias audits',
        'href="../trends.html">Trends',
        'href="neighbour/previous"',
    ):
        assert link in report
    # both runs audit test-suite with one model: the first's next audit is the second
    following = client.get(f"/runs/{RUN_ID}/neighbour/next", follow_redirects=False)
    assert following.status_code == 307
    assert following.headers["location"] == "http://testserver/runs/not-reported/report.html"
    first = client.get(f"/runs/{RUN_ID}/neighbour/previous")
    assert first.status_code == 404 and "This is the first audit of suite test-suite" in first.text
    assert "<h1>No previous audit</h1>" in first.text
    assert client.get(f"/runs/{RUN_ID}/neighbour/sideways").status_code == 404
    assert client.get("/runs/no-such-run/neighbour/next").status_code == 404
    # the Airflow run, relative to /<airflow>/bias-audit/runs/<run>/report.html
    run = {"airflow_dag_id": "llm_bias_audit", "airflow_run_id": "manual__2026-11-29T10:59:26+00:00"}
    assert (
        airflow_run_link(run) == "../../../dags/llm_bias_audit/runs/manual__2026-11-29T10%3A59%3A26%2B00%3A00"
    )
    assert airflow_run_link({}) is None
    # the Airflow UI opens at the top, not inside the report's own frame
    template = (Path(__file__).parent.parent / "include/bias_audit/templates/report.html.j2").read_text()
    assert '<a href="{{ airflow_run }}" target="_top">Airflow run</a>' in template


def test_the_compare_form_offers_only_analysed_runs_grouped_by_suite():
    from bias_audit.web import comparable_by_suite

    rows = [  # newest first, as the runs list has them
        {"run_id": "c", "suite": "winobias", "verdict": "pass"},
        {"run_id": "b", "suite": "seed-lab", "verdict": None, "status": "generating"},
        {"run_id": "a2", "suite": "seed-lab", "verdict": "fail"},
        {"run_id": "a1", "suite": "seed-lab", "verdict": "inconclusive"},
    ]
    grouped = comparable_by_suite(rows)
    assert [(suite, [r["run_id"] for r in members]) for suite, members in grouped] == [
        ("winobias", ["c"]),
        ("seed-lab", ["a2", "a1"]),
    ]


def test_a_failed_run_is_listed_with_its_reason_and_its_report_tab_says_why(tmp_path):
    from bias_audit.run_folder import RunFolder

    runs = tmp_path / "runs"
    RunFolder.of(runs, "manual__2026-12-01T09_00_00_00_00-1a2b3c4d").write_failure(
        {
            "reason": "generate failed: suite: no such suite or file (value: 'no-such-suite')",
            "airflow_dag_id": "llm_bias_audit",
            "airflow_run_id": "manual__2026-12-01T09:00:00+00:00",
            "at": "2026-12-01T09:00:05+00:00",
        }
    )
    client = TestClient(create_app(runs, tmp_path / "warehouse"))
    index = client.get("/").text
    assert "failed: generate failed: suite: no such suite or file (value: &#39;no-such-suite&#39;)" in index
    assert "2026-12-01 09:00 UTC" in index
    listed = client.get("/api/runs").json()
    assert [r["run_id"] for r in listed] == ["manual__2026-12-01T09_00_00_00_00-1a2b3c4d"]
    tab = client.get("/runs/manual__2026-12-01T09_00_00_00_00-1a2b3c4d/report.html")
    assert tab.status_code == 404 and "failed</h1>" in tab.text and "no such suite" in tab.text
    assert "may still be starting" not in tab.text


def test_a_run_stopped_by_hand_reads_as_stopped_not_generating(data_home):
    from types import SimpleNamespace

    from bias_audit.orchestration.run_note import STOPPED, _record_failure, note_of, reason_of_failure
    from bias_audit.paths import runs_dir, warehouse_dir
    from bias_audit.run_folder import RunFolder, safe_run_id

    said = "Dag Run's state was manually set to `failed`."  # Airflow's message for "Mark as failed"
    assert reason_of_failure(None, said) == STOPPED
    assert reason_of_failure("generate failed: suite: …", said) == "generate failed: suite: …"
    assert reason_of_failure(None, "task failure") is None
    # the teardown of a run stopped by hand fails it once more, with no reason of its own
    assert reason_of_failure(None, "task_failure", recorded=STOPPED) == STOPPED
    run = SimpleNamespace(dag_id="llm_bias_audit", run_id="manual__2026-12-01T09:00:00+00:00")
    folder = RunFolder.of(runs_dir(), safe_run_id(run.run_id))
    folder.write_manifest({"suite": "seed-lab", "status": "generating", "samples": 5})
    _record_failure(run, failed=True, reason=STOPPED)
    assert note_of(run.run_id, failed=True, reason=STOPPED) == f"Bias audit: no verdict; {STOPPED}"
    _record_failure(run, failed=False, reason=None)  # the teardown's success afterwards keeps it
    index = TestClient(create_app(runs_dir(), warehouse_dir())).get("/").text
    assert f"failed: {STOPPED}" in index and "generating (or stopped" not in index
