"""Trends across audits: series per suite and model, drift against the previous CI, the trend
page, and what the run's report says about it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from bias_audit.analyze.job import analyze
from bias_audit.report import write_report
from bias_audit.trends import render_trends, trends, write_trends
from tests.factories import occupation_audit, record, write_run

CASES = ("engineer", "nurse", "chef", "pilot")


def answers(run_id: str, day: int, female_extra: int, model: str = "test-model") -> list:
    """8 samples of each of four occupations; female answers carry ``female_extra`` more words."""
    at = datetime(2026, 11, day, tzinfo=UTC)
    return occupation_audit(run_id, CASES, 8, female_extra, model=model, created_at=at)


@pytest.fixture(scope="module")
def history(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("trends")
    runs, warehouse = base / "runs", base / "warehouse"
    for run_id, day, extra, model in (
        ("week-2", 8, 0, "test-model"),  # analysed first, generated second: order is by generation
        ("week-1", 1, 0, "test-model"),
        ("week-3", 15, 30, "test-model"),
        ("other-model", 2, 0, "bigger-model"),
    ):
        write_run(runs, run_id, answers(run_id, day, extra, model))
        analyze(run_id, runs, warehouse, spark)
    return runs, warehouse


def test_runs_of_the_same_suite_and_model_form_one_trend_in_generation_order(history):
    _, warehouse = history
    found = {t.model: t for t in trends(warehouse)}
    assert set(found) == {"test-model", "bigger-model"}
    mine = found["test-model"]
    assert (mine.suite, mine.provider) == ("test-suite", "local")
    assert [r["run_id"] for r in mine.runs] == ["week-1", "week-2", "week-3"]
    assert all(r["verdict"] for r in mine.runs)
    assert [r["run_id"] for r in found["bigger-model"].runs] == ["other-model"]


def test_a_jump_in_length_drifts_and_a_steady_metric_does_not(history):
    _, warehouse = history
    mine = next(t for t in trends(warehouse) if t.model == "test-model")
    series = {s.label: s for s in mine.series}
    length = series["word_count: female vs male"]
    assert [p.run_id for p in length.points] == ["week-1", "week-2", "week-3"]
    assert [p.drift for p in length.points] == [False, False, True]
    assert length.points[2].difference == pytest.approx(30)
    assert all(p.n_a == 32 and p.n_b == 32 for p in length.points)
    drifted = {(s.label, p.run_id) for s, p in mine.drifts}
    # only the length gaps involving women moved; the men's and the neutral answers did not
    assert drifted == {
        ("word_count: female vs male", "week-3"),
        ("word_count: female vs neutral", "week-3"),
    }


def test_trend_page_lists_runs_verdicts_drifts_and_plots(history):
    runs, warehouse = history
    path = write_trends(trends(warehouse), runs)
    html = path.read_text()
    assert path == runs / "trends.html"
    assert '<a href="week-1/report.html">week-1</a>' in html
    assert "test-suite on local / test-model" in html and "test-suite on local / bigger-model" in html
    assert re.search(r'<tr class="drift"><td>week-3</td><td>word_count: female vs male</td>', html)
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) >= 5
    assert html.index(">week-3</a>") < html.index(">week-1</a>")  # newest first, as the runs list
    alts = re.findall(r'alt="([^"]+)"', html)  # one plot per metric, in the registry's order
    assert alts[:3] == ["sentiment", "agency_balance", "refusal"] and "word_count" in alts
    page = render_trends(trends(warehouse), lambda run_id: f"/bias-audit/runs/{run_id}")
    assert '<a href="/bias-audit/runs/week-3">week-3</a>' in page


def test_trend_page_without_runs_says_so(tmp_path):
    assert 'id="no-runs"' in render_trends(trends(tmp_path / "warehouse"), str)


def test_the_runs_report_names_its_drifts(history):
    runs, warehouse = history
    html = write_report("week-3", runs, warehouse).read_text()
    assert "Since the previous audit of this suite and model" in html
    assert "<td>word_count</td><td>female vs male</td>" in html.split("Since the previous audit")[1]
    first = write_report("week-1", runs, warehouse).read_text()
    assert "No gap changed significantly since the previous audit" in first


def test_report_plots_assumed_gender_by_occupation_against_bls(spark, tmp_path):
    runs, warehouse = tmp_path / "runs", tmp_path / "warehouse"
    cases = [("nurse", 90.0, "She"), ("engineer", 10.0, "He"), ("chef", 20.0, "He"), ("clerk", 60.0, "She")]
    attributes = {c: {"occupation": c, "bls_pct_female": pct} for c, pct, _ in cases}
    rows = [
        record("bls", c, "neutral", i, f"{pronoun} works as a {c}.")
        for c, _, pronoun in cases
        for i in range(5)
    ]
    write_run(runs, "bls", rows)
    (runs / "bls" / "run.json").write_text(json.dumps({"case_attributes": attributes}))
    analyze("bls", runs, warehouse, spark)
    html = write_report("bls", runs, warehouse).read_text()
    assert "occupations_bls.png" in html and "against the BLS share of women" in html
    assert (runs / "bls" / "occupations_bls.png").read_bytes()[:4] == b"\x89PNG"
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == 4
