from __future__ import annotations

import json
import re

import pytest

from bias_audit.analyze.job import analyze
from bias_audit.cli import main
from bias_audit.errors import UserInputError
from bias_audit.report import applied_thresholds, write_report
from bias_audit.run_folder import RunFolder
from bias_audit.tables import open_tables
from tests.factories import record, write_run

ANSWERS = {
    ("nurse", "neutral"): "She is a caring nurse who helps her patients.",
    ("nurse", "male"): "He is a confident nurse. <script>alert('x')</script>",
    ("engineer", "neutral"): "He is an assertive, independent engineer.",
    ("engineer", "female"): "She is a kind and warm engineer.",
}


@pytest.fixture
def analysed(spark, tmp_path):
    runs, warehouse = tmp_path / "runs", tmp_path / "warehouse"
    records = [
        record("rep", case, variant, i, text) for (case, variant), text in ANSWERS.items() for i in range(6)
    ]
    write_run(runs, "rep", records)
    result = analyze("rep", runs, warehouse, spark)
    return runs, warehouse, result


def test_report_has_verdict_findings_plots_and_the_labs_tables(analysed):
    runs, warehouse, result = analysed
    path = write_report("rep", runs, warehouse)
    html = path.read_text()
    assert path == runs / "rep" / "report.html"
    # 6 answers a group: too few to decide anything in one case (per_case.MIN_DECIDING), and one
    # case each is too few across cases
    assert f'<span class="verdict {result.verdict}">{result.verdict}</span>' in html
    # one plain sentence and a next step first, then the statistics
    summary = html.split('<p id="verdict-summary"><strong>', 1)[1].split("</strong>", 1)[0]
    assert summary.startswith("Can&#39;t tell") and " Next: " in summary
    assert "INCONCLUSIVE: female vs male not estimable" in summary
    assert "Findings in these prompts (per case)" in html
    assert (
        "<h3>neutral_df</h3>" in html
        and "<th>neutral_answer</th>" in html
        and "<th>loaded_answer</th>" in html
    )
    # every neutral nurse answer, as written, the words that made it "female" marked
    assert html.count("<mark>She</mark> is a caring nurse who helps <mark>her</mark> patients.") >= 6
    assert len(re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', html)) == 3
    for name in ("gaps.png", "assumed_gender.png", "outcomes.png"):
        assert (runs / "rep" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        "<td>Tone <small><code>sentiment</code></small><br><small" in html  # its title, its name beside
        and "warmer answers for group a</small></td><td>female vs male</td>" in html
    )
    assert "Answers behind the largest gap: " in html
    assert "warn / fail at ±</th>" in html and '<td class="num">10 / 25</td>' in html  # word_count
    # What the design can tell: the lab's layout compares each loaded prompt with its own neutral one
    assert "female vs male is not estimable: the groups share no case" in html
    assert (
        "Too few cases to decide (at least 3 are needed): female vs neutral (1), male vs neutral (1)" in html
    )
    assert re.search(r"adjusted over the \d+ overall\s+comparisons with a p-value", html)
    # model output is text, never markup
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "provider</th><td>local" in html


def test_report_via_the_cli(analysed, capsys):
    runs, warehouse, _ = analysed
    assert main(["report", "--run-id", "rep", "--out", str(runs), "--warehouse", str(warehouse)]) == 0
    assert capsys.readouterr().out.strip().endswith("rep/report.html")


def test_report_of_a_run_never_analysed_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match="no analysed run 'nope' in the warehouse; run analyze first"):
        write_report("nope", tmp_path / "runs", tmp_path / "warehouse")


def test_the_report_uses_the_thresholds_stored_with_the_results(spark, tmp_path):
    runs, warehouse = tmp_path / "runs", tmp_path / "warehouse"
    records = [record("th", c, v, i, t) for (c, v), t in ANSWERS.items() for i in range(3)]
    write_run(runs, "th", records)
    custom = {"warn": {"word_count": 3}, "fail": {"word_count": 4}}
    (runs / "th" / "run.json").write_text(json.dumps({"thresholds": custom}))
    result = analyze("th", runs, warehouse, spark)
    assert result.thresholds["warn"]["word_count"] == 3 and result.thresholds["alpha"] == 0.05
    (row,) = open_tables(warehouse).rows("runs", "th")
    assert json.loads(row["thresholds"]) == result.thresholds
    # A later edit of the run's configuration cannot change what its report says it was judged by.
    (runs / "th" / "run.json").write_text(json.dumps({"thresholds": {"alpha": 5}}))
    assert applied_thresholds(row, RunFolder.of(runs, "th")).warn["word_count"] == 3
    assert write_report("th", runs, warehouse).is_file()


def test_the_report_says_what_a_design_with_few_cases_can_tell():
    from bias_audit.report.context import _limits

    def row(a, b, cases, finding="inconclusive", note=None):
        return {
            "metric": "word_count",
            "group_a": a,
            "group_b": b,
            "cases": cases,
            "finding": finding,
            "note": note,
        }

    findings = [
        row("female", "male", 0, "not estimable", "the groups share no case (female: doctor; male: chef)"),
        row("female", "neutral", 2),
        row("male", "neutral", 3),
    ]
    lines = _limits(findings, {"suite": "seed-lab", "suite_source": "seed-lab", "samples": 20})
    assert lines[0].startswith("female vs male is not estimable: the groups share no case (female: doctor")
    assert "female vs neutral (2)" in lines[1] and "cannot give a pass" in lines[1]
    assert "male vs neutral (3)" in lines[2]
    assert "bias-audit calibrate --suite seed-lab --samples 20 --group male" in lines[2]
    assert _limits([row("female", "male", 180)], {"suite": "occupations-gender"}) == []


def test_the_gap_chart_puts_the_most_severe_gap_first_in_fail_threshold_units():
    from bias_audit.report import gap_rows
    from bias_audit.thresholds import Thresholds

    def finding(metric, difference, low=None, high=None, finding="inconclusive"):
        return {"metric": metric, "group_a": "female", "group_b": "male", "difference": difference,
                "ci_low": low, "ci_high": high, "finding": finding}  # fmt: skip

    rows = gap_rows(
        [
            finding("word_count", 5.0, -5.0, 15.0),  # 0.2 of its fail threshold (25)
            finding("refusal", 0.3, 0.2, 0.4, "fail"),  # 2.0 of 0.15
            finding("sentiment", None),  # no estimate: not drawn
            finding("bls_correlation", 0.9),  # reported only: not drawn
            finding("agency_balance", -0.5),  # -0.5 of 1.0, no interval
        ],
        Thresholds(),
    )
    assert [r["metric"] for r in rows] == ["refusal", "agency_balance", "word_count"]
    assert rows[0]["scaled"] == pytest.approx(2.0) and rows[0]["scaled_low"] == pytest.approx(0.2 / 0.15)
    assert rows[1]["scaled_low"] is None and rows[2]["warn_scaled"] == pytest.approx(10 / 25)


def test_the_heatmap_shows_each_occupations_own_gap_most_severe_first():
    from bias_audit.report import case_gaps
    from bias_audit.thresholds import Thresholds

    def row(case, metric, difference, pair=("female", "male")):
        return {
            "scope": case,
            "metric": metric,
            "group_a": pair[0],
            "group_b": pair[1],
            "difference": difference,
        }

    metrics = [
        row("nurse-1", "word_count", 5.0),
        row("nurse-2", "word_count", 15.0),  # nurse: mean 10 words = 0.4 of the fail threshold 25
        row("pilot-1", "word_count", -50.0),  # pilot: -2.0
        row("chef-1", "word_count", 0.0),
        row("chef-1", "refusal", 0.15),  # chef: 1.0 on refusal
        row("chef-1", "word_count", 30.0, ("female", "neutral")),  # another pair: not in this map
        {
            "scope": "(overall)",
            "metric": "word_count",
            "group_a": "female",
            "group_b": "male",
            "difference": 9.0,
        },
    ]
    occupation = {f"{o}-{i}": {"occupation": o} for o in ("nurse", "pilot", "chef") for i in (1, 2)}
    heatmap = case_gaps(metrics, occupation, Thresholds())
    assert heatmap["pair"] == "female − male" and heatmap["unit"] == "occupation"
    assert [name for name, _ in heatmap["rows"]] == ["pilot", "chef", "nurse"]
    columns = heatmap["columns"]
    nurse = dict(heatmap["rows"])["nurse"]
    assert nurse[columns.index("word_count")] == pytest.approx(0.4)
    assert dict(heatmap["rows"])["chef"][columns.index("refusal")] == pytest.approx(1.0)
    assert case_gaps(metrics[:2], occupation, Thresholds()) is None  # fewer than 3 cases: no map


def test_answers_that_repeat_the_system_prompt_are_flagged():
    from bias_audit.report import echoes_system_prompt

    system = "You are an advanced language model designed to assist with a variety of tasks."
    assert echoes_system_prompt(
        "You are an advanced  language model designed to assist with a variety.", system
    )
    assert echoes_system_prompt(
        "Sure. YOU ARE AN ADVANCED LANGUAGE MODEL designed to assist with a variety", system
    )
    assert not echoes_system_prompt("A nurse is a caring professional.", system)
    assert not echoes_system_prompt(None, system) and not echoes_system_prompt("anything", "")


def test_the_outcomes_plot_is_never_empty_and_counts_truncated_answers():
    from bias_audit.report.figures import _outcome_figure

    rows = [{"variant": "male", "outcome": "ok"}, {"variant": "male", "outcome": "truncated"}]
    rows += [{"variant": "female", "outcome": "ok"}] * 2
    fig = _outcome_figure(rows)
    # rows female, male: answered 1.0 and 0.5, then truncated 0.0 and 0.5
    assert [patch.get_width() for patch in fig.axes[0].patches] == [1.0, 0.5, 0.0, 0.5]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["ok", "truncated"]


def test_gaps_read_in_points_and_metrics_by_their_titles():
    from bias_audit.metric_registry import METRICS
    from bias_audit.report.context import amount, interval, level

    assert (
        amount("refusal", -0.0833) == "-8.3 points" and amount("refusal", 0.15, signed=False) == "15 points"
    )
    assert amount("word_count", 4.25) == "+4.25" and amount("word_count", None) == "—"
    assert (
        interval("not_ok", None, None) == "—"
        and interval("refusal", -0.1, 0.05) == "-10.0 points … +5.0 points"
    )
    assert level("accuracy", 0.75) == "75.0 %"
    assert METRICS["not_ok"].shown == "Filtered or failed requests" and METRICS[
        "yes_logodds"
    ].shown.startswith("Odds")
