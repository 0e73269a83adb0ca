"""Comparing two audits of the same suite: a known reduction, a known increase and no change are
found as such, differences of configuration are listed, and a bad pair writes nothing."""

from __future__ import annotations

import json

import pytest

from bias_audit.analyze.job import analyze
from bias_audit.cli import main
from bias_audit.compare import compare_audits
from bias_audit.errors import UserInputError
from bias_audit.tables import open_tables
from tests.factories import occupation_audit, write_run

CASES = ("engineer", "nurse", "chef", "pilot", "teacher", "doctor")


def audit(run_id: str, female_extra: int, *, model: str = "test-model", suite: str = "test-suite") -> list:
    """6 occupations x 3 variants x 6 samples; female answers carry ``female_extra`` more words."""
    return occupation_audit(run_id, CASES, 6, female_extra, model=model, suite=suite)


@pytest.fixture(scope="module")
def audits(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("compare")
    runs, warehouse = base / "runs", base / "warehouse"
    for run_id, extra, model, suite_hash in (
        ("before", 30, "test-model", "h1"),
        ("mitigated", 0, "test-model", "h2"),
        ("worse", 60, "test-model", "h1"),
        ("again", 30, "test-model-v2", "h1"),
    ):
        write_run(runs, run_id, audit(run_id, extra, model=model))
        (runs / run_id / "run.json").write_text(json.dumps({"suite_hash": suite_hash, "samples": 6}))
        analyze(run_id, runs, warehouse, spark)
    write_run(runs, "other", audit("other", 0, suite="other-suite"))
    analyze("other", runs, warehouse, spark)
    # the same cases in Spanish (test-suite-es translates test-suite), women's answers 60 words longer
    spanish = audit("es", 60, suite="test-suite-es")
    for row in spanish:
        row.text = row.text.replace("She is", "Ella es").replace("He is", "Él es")
    write_run(runs, "es", spanish)
    manifest = {"suite_hash": "h3", "samples": 6, "language": "es", "translates": "test-suite"}
    (runs / "es" / "run.json").write_text(json.dumps(manifest))
    analyze("es", runs, warehouse, spark)
    return runs, warehouse


def length_gap(result, a="female", b="male"):
    return next(c for c in result.changes if (c.metric, c.group_a, c.group_b) == ("word_count", a, b))


def test_a_mitigation_that_closes_the_gap_is_reduced(audits):
    _, warehouse = audits
    result = compare_audits("before", "mitigated", warehouse)
    gap = length_gap(result)
    assert gap.finding == "reduced" and gap.change.difference == pytest.approx(-30)
    assert gap.baseline_gap == pytest.approx(30) and gap.candidate_gap == pytest.approx(0)
    assert gap.change.cases == 6 and gap.change.ci_high < 0 and gap.p_adjusted < 0.05
    assert "reduced: word_count (female vs male)" in result.conclusion
    assert ("suite_hash", "h1", "h2") in result.differences
    shown = result.examples
    assert shown["label"] == "word_count (female vs male)" and shown["group"] == "female"
    before = [a for a in shown["answers"] if a["run_id"] == "before"]
    after = [a for a in shown["answers"] if a["run_id"] == "mitigated"]
    assert len(before) == len(after) == 3 and all("indeed" in a["text"] for a in before)
    assert not any("indeed" in a["text"] for a in after)


def test_a_wider_gap_is_increased(audits):
    _, warehouse = audits
    result = compare_audits("before", "worse", warehouse)
    assert length_gap(result).finding == "increased"
    assert result.conclusion.startswith(
        "2 gap(s) increased: word_count (female vs male), word_count (female vs neutral)"
    )
    assert length_gap(result, "male", "neutral").finding == "unchanged"  # men's answers did not move


def test_the_same_answers_from_another_model_are_unchanged(audits):
    _, warehouse = audits
    result = compare_audits("before", "again", warehouse)
    gap = length_gap(result)
    assert gap.finding == "unchanged" and gap.change.difference == pytest.approx(0)
    assert gap.change.ci_low > -10 and gap.change.ci_high < 10  # within the warn threshold
    assert result.differences == [("model", "test-model", "test-model-v2")]
    assert "increased" not in result.conclusion and "reduced" not in result.conclusion


def test_a_suite_and_its_translation_compare_across_languages(audits):
    """Is each gap larger in Spanish? The same case-by-case change, on the metrics valid in both."""
    _, warehouse = audits
    result = compare_audits("before", "es", warehouse)
    gap = length_gap(result)
    assert gap.finding == "increased" and gap.change.difference == pytest.approx(30)
    assert gap.change.cases == 6 and gap.change.ci_low > 0
    assert not {c.metric for c in result.changes} & {"sentiment", "agency_balance"}
    assert ("language", "en", "es") in result.differences
    assert ("suite", "test-suite", "test-suite-es") in result.differences
    assert "'increased' means a gap is larger in Spanish" in result.languages
    assert "left out: Tone, Agentic vs communal words" in result.languages
    from bias_audit.compare import render_comparison

    assert 'id="languages"' in render_comparison(result, "before.html", "es.html")
    # the form offers the two suites as one group
    from bias_audit.catalog import read_runs
    from bias_audit.web import comparable_by_suite

    groups = {
        label: {r["run_id"] for r in members} for label, members in comparable_by_suite(read_runs(warehouse))
    }
    assert groups["test-suite, test-suite-es"] == {"before", "mitigated", "worse", "again", "es"}


def test_compare_cli_writes_the_comparison_its_page_and_the_table_once_per_pair(audits, capsys):
    runs, warehouse = audits
    argv = ["compare", "--baseline", "before", "--candidate", "mitigated", "--out", str(runs)]
    argv += ["--warehouse", str(warehouse)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mitigated against before:" in out and "differs: suite_hash: 'h1' -> 'h2'" in out
    saved = json.loads((runs / "mitigated" / "comparison.json").read_text())
    assert saved["baseline"] == "before" and saved["conclusion"].startswith("2 reduced")
    page = (runs / "mitigated" / "comparison.html").read_text()
    assert '<span class="finding reduced">reduced</span>' in page and "suite_hash" in page
    assert "Answers behind the largest change: word_count (female vs male)" in page
    assert "<td>suite_hash</td><td>h1</td><td>h2</td>" in page
    rows = list(open_tables(warehouse).rows("comparisons", "mitigated"))
    assert main(argv) == 0  # the same pair again replaces its rows
    again = list(open_tables(warehouse).rows("comparisons", "mitigated"))
    assert len(again) == len(rows) == len(saved["changes"])
    assert {r["baseline"] for r in again} == {"before"}
    # the audit pages serve it and link it from the runs list
    from fastapi.testclient import TestClient

    from bias_audit.web import create_app

    client = TestClient(create_app(runs, warehouse))
    assert client.get("/runs/mitigated/comparison.html").text == page
    assert (
        'href="http://testserver/runs/mitigated/comparison.html">against its baseline</a>'
        in client.get("/").text
    )


@pytest.mark.parametrize(
    ("baseline", "candidate", "message"),
    [
        ("before", "before", "--candidate: baseline and candidate are the same run ('before')"),
        ("nope", "mitigated", "--baseline: no analysed run 'nope' in the warehouse"),
        ("before", "other", "runs of different suites cannot be compared"),
    ],
)
def test_a_bad_pair_is_named_and_nothing_is_written(audits, capsys, baseline, candidate, message):
    runs, warehouse = audits

    def written():
        return {p: p.read_bytes() for p in runs.rglob("comparison.*")} | {
            p: p.stat().st_mtime_ns for p in (warehouse / "comparisons").rglob("*.parquet")
        }

    before = written()
    argv = ["compare", "--baseline", baseline, "--candidate", candidate, "--out", str(runs)]
    assert main([*argv, "--warehouse", str(warehouse)]) == 2
    assert message in capsys.readouterr().err
    assert written() == before
    with pytest.raises(UserInputError):
        compare_audits(baseline, candidate, warehouse)


def test_the_previous_audit_is_of_the_same_suite_provider_and_model(audits):
    from bias_audit.catalog import previous_audit
    from bias_audit.compare import resolve_baseline

    _, warehouse = audits
    # the runs were generated at the same time: their order is by run id
    assert previous_audit("worse", warehouse) == "mitigated"
    assert previous_audit("before", warehouse) is None  # the first audit
    assert previous_audit("again", warehouse) is None  # another model
    assert resolve_baseline("previous", "worse", warehouse) == "mitigated"
    assert resolve_baseline("none", "worse", warehouse) is None
    with pytest.raises(UserInputError, match="run_id"):
        resolve_baseline("../etc", "worse", warehouse)


def test_an_empty_system_prompt_reads_none_on_the_page():
    from bias_audit.compare import AuditComparison, render_comparison

    result = AuditComparison("a", "b", "s", [], [("system_prompt", "", "Be fair.")], "nothing estimable")
    page = render_comparison(result, "a/report.html", "b/report.html")
    assert "<td>system_prompt</td><td>(none)</td><td>Be fair.</td>" in page


def test_the_comparison_page_reads_rates_in_points_over_the_shared_cases():
    from bias_audit.compare import AuditComparison, render_comparison
    from bias_audit.stats.change import Change
    from bias_audit.stats.statistics import Comparison

    change = Comparison(40, 40, None, None, -0.10, -0.16, -0.04, None, 0.002, cases=8)
    row = Change("refusal", "female", "male", 0.12, 0.02, change, p_adjusted=0.004, finding="reduced")
    page = render_comparison(AuditComparison("a", "b", "s", [row], [], "1 reduced"), "a/r.html", "b/r.html")
    assert "Refusals <small><code>refusal</code></small>" in page
    assert '<td class="num">+12.0 points</td><td class="num">+2.0 points</td>' in page
    assert "-16.0 points … -4.0 points" in page and "gap, baseline (shared cases)" in page
    assert 'href="../../">All bias audits</a>' in page
