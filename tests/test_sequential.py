"""Sequential audits: the looks, the stopping rules on constructed answers, the coverage of the
confidence sequence, resuming mid-round, and bad input."""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bias_audit.calibrate import (
    DEFAULT_VARIATION,
    calibrate_sequential,
    layout,
    run_sequentially,
    sequence_coverage,
    simulate,
)
from bias_audit.cli import main
from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError
from bias_audit.generate import generate
from bias_audit.llm.registry import make_provider
from bias_audit.run_folder import RunFolder
from bias_audit.stats.design import Design
from bias_audit.stats.sequential import analyse, decide, needed_prompts
from bias_audit.suites import load_suite
from bias_audit.thresholds import Thresholds
from tests.fake_azure_openai import FakeAzureOpenAI, ServerState

OCCUPATIONS = layout(load_suite("occupations-gender"))
SIXTY = dict(list(OCCUPATIONS.items())[:60])
SIX_OCCUPATIONS = "tests/data/six-occupations.yaml"
# Occupations that lean less one way or the other than the default calibration's 2.2 logits.
MILD_SKEW = {**DEFAULT_VARIATION, "gender_skew": replace(DEFAULT_VARIATION["gender_skew"], case_sd=0.3)}


def stop(values: list[dict], design: Design):
    """Look after each round, as generate does, until the verdict is settled or the looks run out."""
    for look in range(1, len(design.looks) + 1):
        result = analyse(values, design, look)
        if result.settled:
            return look, result
    return look, result


def test_the_looks_go_from_five_to_fifteen_then_double_and_share_alpha():
    # 15: the fewest answers a group a case's continuous gap is decided from (per_case.MIN_DECIDING)
    assert Design(50).looks == (5, 15, 30, 50) and Design(50).alphas == pytest.approx((0.0125,) * 4)
    assert Design(10).looks == (5, 10) and Design(10).alphas == pytest.approx((0.025, 0.025))
    assert Design(40).looks == (5, 15, 30, 40) and Design(100).looks == (5, 15, 30, 60, 100)
    assert Design(3).looks == (3,) and Design(1).looks == (1,)
    with pytest.raises(ValueError, match="max_samples must be >= 1"):
        Design(0)


def test_decide_needs_the_whole_interval_on_one_side_of_a_threshold():
    t = Thresholds()  # word_count: warn 10, fail 25
    assert decide("word_count", -9, 9, 0, t) == "pass"
    assert decide("word_count", -11, 9, 0, t) is None
    assert decide("word_count", 10, 40, 26, t) == "fail"
    assert decide("word_count", 10, 40, 24, t) == "warn"
    assert decide("word_count", -40, -12, -30, t) == "fail"
    assert decide("word_count", 5, 40, 30, t) is None  # beyond fail by its estimate, not by its interval


def test_a_glaring_bias_stops_the_first_round_with_fail():
    values = simulate(SIXTY, 50, np.random.default_rng(1), {"refusal": 0.5})  # half the women refused
    look, result = stop(values, Design(50))
    assert look == 1 and result.settled and result.verdict == "fail"
    refusal = next(
        r for r in result.rows if (r.metric, r.group_a, r.group_b) == ("refusal", "female", "male")
    )
    assert refusal.finding == "fail" and refusal.comparison.ci_low >= Thresholds().warn["refusal"]
    assert "decided at look 1 (5 samples per prompt)" in refusal.comparison.note


def test_no_bias_stops_with_pass_once_every_interval_fits_the_band():
    values = simulate(SIXTY, 50, np.random.default_rng(2), {}, variation=MILD_SKEW)
    look, result = stop(values, Design(50))
    assert result.settled and result.verdict == "pass" and not result.undecided
    assert look < len(Design(50).looks)  # it stopped before max_samples
    overall = [r for r in result.rows if r.scope == "(overall)"]
    assert overall and all(r.finding in ("pass", "not estimable") for r in overall)
    # per case, rewording moves the continuous metrics as much as the warn band: no case can pass,
    # none warns, and each stopped as futile rather than holding the audit to max_samples
    cases = [r for r in result.rows if r.scope != "(overall)"]
    assert cases and not any(r.finding in ("warn", "fail") for r in cases) and result.futile


def test_a_small_bias_runs_to_the_last_look_and_stays_inconclusive():
    warn = Thresholds().warn["word_count"]
    values = simulate(SIXTY, 20, np.random.default_rng(3), {"word_count": warn}, variation=MILD_SKEW)
    look, result = stop(values, Design(20))
    assert look == len(Design(20).looks) and not result.settled and result.verdict == "inconclusive"
    undecided = {(r.metric, r.group_a, r.group_b) for r in result.undecided}
    assert ("word_count", "female", "male") in undecided


def test_rounds_sample_only_the_prompts_of_undecided_comparisons():
    cases = {"a": ["neutral", "female", "male"], "b": ["neutral", "female"], "c": ["male", "neutral"]}
    values = simulate(cases, 5, np.random.default_rng(0), {})
    rows = {(r.metric, r.group_a, r.group_b): r for r in analyse(values, Design(5), 1).rows}
    female_male = needed_prompts([rows[("word_count", "female", "male")]], cases)
    assert female_male == {("a", "female"), ("a", "male")}
    skew = needed_prompts([rows[("gender_skew", "neutral", "zero")]], cases)
    assert skew == {("a", "neutral"), ("b", "neutral"), ("c", "neutral")}


@pytest.mark.heavy
def test_the_confidence_sequence_covers_where_repeated_intervals_do_not():
    """Unbiased runs looked at four times: the running intersection at alpha/4 per look contains
    the true gap (0) at every look in about 95 % of comparisons or more; the same runs with a 95 %
    interval at every look (the invalid way) miss it far more often."""
    cases = dict(list(OCCUPATIONS.items())[:12])
    unequal = Design(40, schedule=(5, 15, 30), spend=(0.5, 2, 1, 0.5))  # alpha shared unequally
    designs = ((Design(40), 0.94, 1.0), (Design(40, alpha=0.2), 0.0, 0.93), (unequal, 0.94, 1.0))
    for design, low, high in designs:
        assert design.looks == (5, 15, 30, 40)
        rng = np.random.default_rng(3)
        runs = [run_sequentially(cases, design, rng, {}, Thresholds()) for _ in range(200)]
        for metric in ("sentiment", "word_count", "agency_balance"):
            assert low <= sequence_coverage(runs, metric) <= high, (design.alpha, metric)


@pytest.mark.heavy
def test_calibrate_sequential_meets_the_goals_on_occupations_gender():
    results = calibrate_sequential(load_suite("occupations-gender"), 50, runs=40)
    fixed = results[0].fixed_requests
    assert fixed == 720 * 50
    for r in results:
        assert r.false_alarm_rate <= 0.05, r
        assert r.power_at_fail >= 0.9, r
        assert r.requests_unbiased_mean <= fixed / 2 and r.requests_biased_mean <= fixed / 2, r
        assert r.coverage is None or r.coverage >= 0.93, r
    refusal = next(r for r in results if r.metric == "refusal")
    assert refusal.samples_biased_p90 <= Design(50).looks[1]  # decided by the second look


def test_a_glaring_bias_is_decided_within_ten_samples_per_prompt():
    rng = np.random.default_rng(5)
    runs = [run_sequentially(OCCUPATIONS, Design(50), rng, {"refusal": 0.5}, Thresholds()) for _ in range(20)]
    assert all(r.verdict == "fail" and r.reason == "decided" and r.rounds <= 2 for r in runs)


# -- generate --------------------------------------------------------------------------------------


def longer_for_women(prompt: str) -> str | None:
    """A model that writes 60 words about a woman and about 30 about anyone else."""
    return " ".join(["She works with care and skill every day."] * 7) if "female" in prompt else None


def azure(server: FakeAzureOpenAI):
    return make_provider(
        "azure",
        {"endpoint": server.endpoint, "api_key": server.state.api_key, "deployment": "gpt-4o"},
    )


def test_generate_sequential_stops_a_glaring_bias_after_one_round(tmp_path):
    with FakeAzureOpenAI(ServerState(answer_for=longer_for_women)) as server:
        config = RunConfig.build(run_id="s", suite=SIX_OCCUPATIONS, provider="azure", mode="sequential")
        result = generate(config, tmp_path, azure(server))
    assert result.total == result.sent == 18 * 5  # one round: every prompt, 5 samples
    manifest = RunFolder.of(tmp_path, "s").read_manifest()
    assert manifest["stop_reason"] == "decided" and manifest["rounds"] == 1 and manifest["samples"] == 5
    summary = manifest["sequential"]
    assert summary["verdict"] == "fail" and summary["requests_spent"] == 90
    assert summary["tokens_spent"] > 0 and summary["round_log"][0]["requests"] == 90


def worded(prompt: str) -> str:
    """A deterministic model whose answers' length depends on the prompt's wording (5 to 34 words):
    its gaps differ from case to case, so a first round leaves comparisons that more samples can
    settle (identical answers everywhere would settle, or be futile, at once)."""
    return " ".join(["They work with care."] * (1 + zlib.crc32(prompt.encode()) % 8))


def test_generate_sequential_stops_before_a_round_over_budget(tmp_path):
    with FakeAzureOpenAI(ServerState(answer_for=worded)) as server:
        config = RunConfig.build(
            run_id="b", suite=SIX_OCCUPATIONS, provider="azure", mode="sequential", budget_requests=150
        )
        result = generate(config, tmp_path, azure(server))
    manifest = RunFolder.of(tmp_path, "b").read_manifest()
    assert manifest["stop_reason"] == "budget" and manifest["rounds"] == 1
    assert result.total == 90 <= 150 and len(server.state.received) == 90


class Killed(Exception):
    pass


class CrashAfter:
    """The provider, but the run dies (as a killed worker would) after ``limit`` answers."""

    def __init__(self, provider, limit: int):
        self.provider, self.limit, self.calls = provider, limit, 0
        for name in ("name", "model", "api_version", "max_concurrency"):
            setattr(self, name, getattr(provider, name))

    async def acomplete(self, request, limiter):
        self.calls += 1
        if self.calls > self.limit:
            raise Killed("worker killed")
        return await self.provider.acomplete(request, limiter)


@pytest.mark.heavy
def test_a_run_killed_mid_round_resumes_without_sending_anything_twice(tmp_path):
    state = ServerState(answer_for=worded)
    with FakeAzureOpenAI(state) as server:
        config = RunConfig.build(
            run_id="r",
            suite=SIX_OCCUPATIONS,
            provider="azure",
            mode="sequential",
            max_samples=20,
            concurrency=1,
        )
        with pytest.raises(Killed, match="worker killed"):
            generate(config, tmp_path, CrashAfter(azure(server), 90 + 37))  # in round 2
        assert len(state.received) == 127
        resumed = generate(config, tmp_path, azure(server))
        sent = [(m["body"]["messages"][-1]["content"], m["body"]["seed"]) for m in state.received]
    uninterrupted_dir = tmp_path / "clean"
    with FakeAzureOpenAI(ServerState(answer_for=state.answer_for)) as server:
        clean = generate(config, uninterrupted_dir, azure(server))
    assert len(sent) == len(set(sent)), "a request was sent twice"
    assert resumed.total == clean.total and resumed.sent == clean.total - 127
    records = [json.loads(line) for line in (tmp_path / "r" / "responses.jsonl").read_text().splitlines()]
    clean_records = [
        json.loads(line) for line in (uninterrupted_dir / "r" / "responses.jsonl").read_text().splitlines()
    ]
    assert sorted(r["request_key"] for r in records) == sorted(r["request_key"] for r in clean_records)
    manifest, clean_manifest = (
        RunFolder.of(tmp_path, "r").read_manifest(),
        RunFolder(uninterrupted_dir / "r").read_manifest(),
    )
    assert manifest["sequential"]["round_log"] == clean_manifest["sequential"]["round_log"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sequential", "--samples", "5"], "samples: is the fixed design's answers per prompt (value: 5)"),
        (["--sequential", "--max-samples", "0"], "max_samples: Input should be greater than 0 (value: 0)"),
        (["--max-samples", "10"], "max_samples: applies to sequential runs only (value: 10)"),
        (["--sequential", "--budget-requests", "0"], "budget_requests: Input should be greater than 0"),
        (["--sequential", "--budget-tokens", "-1"], "budget_tokens: Input should be greater than 0"),
        (
            ["--sequential", "--budget-requests", "20"],
            "budget_requests: the first round needs 50 requests, more than the budget (value: 20)",
        ),
        (["--samples", "5", "--budget-requests", "20"], "this fixed run needs 50 requests"),
        (["--sequential", "--budget-tokens", "30"], "budget_tokens: the first round's prompts alone take"),
    ],
)
def test_generate_rejects_bad_sequential_input_before_anything_is_recorded(tmp_path, capsys, args, message):
    argv = ["generate", "--suite", "seed-lab", "--run-id", "bad", "--out", str(tmp_path)]
    assert main(argv + args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_run_config_names_the_mode_conflicts():
    with pytest.raises(UserInputError, match=r"^samples: "):
        RunConfig.build(run_id="x", mode="sequential", samples=5)
    with pytest.raises(UserInputError, match=r"^max_samples: "):
        RunConfig.build(run_id="x", max_samples=10)
    assert RunConfig.build(run_id="x", mode="sequential", max_samples=10).max_samples == 10


def test_calibrate_sequential_cli(capsys):
    assert (
        main(["calibrate", "--sequential", "--max-samples", "10", "--runs", "5", "--metric", "refusal"]) == 0
    )
    out = capsys.readouterr().out
    assert "sequential, looks at 5, 10 samples per prompt" in out and "refusal" in out
    assert main(["calibrate", "--max-samples", "10"]) == 2
    assert "--max-samples: applies to --sequential only" in capsys.readouterr().err


def noisy(prompt: str) -> str:
    """A model whose answers vary: 5 to 40 words, naming a woman or a man at random."""
    rng = np.random.default_rng()
    pronoun = "She" if rng.random() < 0.5 else "He"
    return f"{pronoun} " + " ".join(["works with care and skill"] * int(rng.integers(1, 9)))


def test_the_spark_job_reaches_the_verdict_that_stopped_the_sampling(tmp_path, spark):
    from bias_audit.analyze.job import analyze
    from bias_audit.tables import open_tables

    with FakeAzureOpenAI(ServerState(answer_for=noisy)) as server:
        config = RunConfig.build(
            run_id="n", suite=SIX_OCCUPATIONS, provider="azure", mode="sequential", max_samples=10
        )
        generate(config, tmp_path / "runs", azure(server))
    manifest = RunFolder.of(tmp_path / "runs", "n").read_manifest()
    rounds = manifest["sequential"]["round_log"]
    result = analyze("n", tmp_path / "runs", tmp_path / "warehouse", spark)
    assert result.verdict == manifest["sequential"]["verdict"] == rounds[-1]["verdict"]
    assert result.run["stop_reason"] == manifest["stop_reason"] and result.run["rounds"] == len(rounds)
    metrics = list(open_tables(tmp_path / "warehouse").rows("metrics", "n"))
    overall, per_case = (
        "overall comparisons (the verdict)",
        "per-case comparisons (the verdict: these prompts)",
    )
    undecided = {
        f"{m['metric']} {m['group_a']} vs {m['group_b']}"
        + ("" if m["scope"] == "(overall)" else f" in {m['scope']}")
        for m in metrics
        if m["finding"] == "inconclusive"
        and "cannot be settled" not in (m["note"] or "")
        and (
            (m["adjusted_over"] == overall and (m["cases"] or 0) >= 3)
            or (m["adjusted_over"] == per_case and m["ci_low"] is not None and result.verdict != "warn")
        )
    }
    assert undecided == set(rounds[-1]["undecided"])
    looks = list(open_tables(tmp_path / "warehouse").rows("looks", "n"))
    assert {row["look"] for row in looks} == set(range(1, len(rounds) + 1))
    for row in looks:  # the running intersection lies within each look's own interval
        if row["ci_low"] is not None:
            assert row["ci_low"] - 1e-12 <= row["seq_low"] <= row["seq_high"] <= row["ci_high"] + 1e-12


def test_a_sequential_run_is_in_run_json_before_its_first_answer(tmp_path):
    with FakeAzureOpenAI() as server:
        config = RunConfig.build(run_id="early", suite=SIX_OCCUPATIONS, provider="azure", mode="sequential")
        with pytest.raises(Killed):
            generate(config, tmp_path, CrashAfter(azure(server), 3))
    manifest = RunFolder.of(tmp_path, "early").read_manifest()
    assert manifest["status"] == "generating" and manifest["mode"] == "sequential"


# -- a suite's own looks (#27) ----------------------------------------------------------------------


def test_a_schedule_of_looks_from_the_suite_or_the_run_is_checked_and_capped():
    from bias_audit.run_requests import design_of
    from bias_audit.schedule import parse_schedule

    assert Design(50, schedule=(1, 3, 10, 30)).looks == (1, 3, 10, 30, 50)
    assert Design(20, schedule=(1, 3, 10, 30)).looks == (1, 3, 10, 20)  # capped at max_samples
    assert Design(2, schedule=(5, 10)).looks == (2,)
    assert Design(50, schedule=(1, 3, 10, 30)).alphas == pytest.approx((0.01,) * 5)
    assert parse_schedule(" 1, 3;10 ") == (1, 3, 10)
    for bad, message in (
        ("3, 2", "looks must increase: look 2 (2) is not above look 1 (3)"),
        ("0, 5", "look 1 must be a whole number >= 1"),
        ("1, x", "comma-separated"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            parse_schedule(bad)
    winobias = load_suite("winobias")
    assert winobias.sequential is not None and tuple(winobias.sequential.looks) == (1, 2, 3, 4, 8, 16)
    config = RunConfig.build(run_id="w", suite="winobias", mode="sequential")
    assert design_of(config, winobias).looks == (1, 2, 3, 4, 8, 16, 50)
    config = RunConfig.build(run_id="w", suite="winobias", mode="sequential", looks="2,4", max_samples=8)
    assert config.looks == "2, 4" and design_of(config, winobias).looks == (2, 4, 8)
    assert design_of(RunConfig.build(run_id="s", mode="sequential"), load_suite("seed-lab")).looks == (
        5, 15, 30, 50,
    )  # fmt: skip
    with pytest.raises(UserInputError, match=r"^looks: applies to sequential runs only"):
        RunConfig.build(run_id="x", looks="1, 3")
    with pytest.raises(UserInputError, match=r"^looks: .*looks must increase"):
        RunConfig.build(run_id="x", mode="sequential", looks="3, 1")


def test_a_suites_spend_shares_alpha_over_its_looks_and_a_run_of_its_own_looks_shares_equally():
    from bias_audit.analyze.job import sequential_design
    from bias_audit.run_requests import design_of
    from bias_audit.stats.design import recorded_design

    design = Design(50, schedule=(1, 3, 10), spend=(0.5, 2, 1, 0.5))
    assert design.alphas == pytest.approx((0.00625, 0.025, 0.0125, 0.00625))
    assert sum(design.alphas) == pytest.approx(0.05)
    capped = Design(10, schedule=(1, 3, 10, 30), spend=(0.5, 2, 1, 0.5, 1))  # looks 1, 3, 10
    assert capped.looks == (1, 3, 10) and capped.alphas == pytest.approx((0.005, 0.02, 0.025))
    assert Design(1, schedule=(2, 5), spend=(1, 2, 3)).alphas == pytest.approx((0.05,))
    assert "99.38%, 97.50%, 98.75%, 99.38%" in design.describe()
    for spend, message in (
        ((1, 1), "spend needs 4 shares: one for each of the 3 looks"),
        ((1, 0, 1, 1), "share 2 of spend must be a number > 0 (value: 0)"),
        ((1, 1, float("nan"), 1), "share 3 of spend must be a number > 0"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            Design(50, schedule=(1, 3, 10), spend=spend)
    with pytest.raises(ValueError, match="spend needs the schedule"):
        Design(50, spend=(1, 1))
    winobias = load_suite("winobias")
    suites_own = design_of(RunConfig.build(run_id="w", suite="winobias", mode="sequential"), winobias)
    assert suites_own.alphas[0] < suites_own.alphas[1] and sum(suites_own.alphas) == pytest.approx(0.05)
    own_looks = RunConfig.build(run_id="w", suite="winobias", mode="sequential", looks="1, 2, 3, 4, 8, 16")
    assert design_of(own_looks, winobias).alphas == pytest.approx((0.05 / 7,) * 7)  # equal shares
    # what run.json records gives the Spark job the same design back; a run.json from before spend
    # (no alphas recorded) is read with equal shares
    for each in (suites_own, capped, Design(8, schedule=(2, 4)), Design(3, schedule=(5,)), Design(50)):
        back = recorded_design(each.max_samples, list(each.looks), list(each.alphas))
        assert back.looks == each.looks and back.alphas == pytest.approx(each.alphas), each
    assert recorded_design(50, [1, 3, 10, 50], None).alphas == (0.0125,) * 4
    # the run's own alpha (thresholds {"alpha": 0.01}) is what a sequential run spends, recorded and
    # read back as such; a run.json from before spend recorded alpha_per_look
    strict = RunConfig.build(run_id="w", suite="winobias", mode="sequential", thresholds={"alpha": 0.01})
    strict_design = design_of(strict, winobias)
    assert sum(strict_design.alphas) == pytest.approx(0.01)
    assert strict_design.alphas == pytest.approx(tuple(a / 5 for a in suites_own.alphas))
    back = recorded_design(50, list(strict_design.looks), list(strict_design.alphas))
    assert back.alphas == pytest.approx(strict_design.alphas)
    old = {"sequential": {"rounds": 2, "looks": [5, 15, 30, 50], "max_samples": 50, "alpha_per_look": 0.0025}}
    design, _, _ = sequential_design(old)
    assert design.looks == (5, 15, 30, 50) and design.alphas == pytest.approx((0.0025,) * 4)


def test_a_suite_file_sets_its_looks_and_a_bad_schedule_names_the_field(tmp_path, capsys):
    path = tmp_path / "mine.yaml"
    text = (
        "name: mine\nsequential:\n  looks: [2, 6]\ncases:\n"
        "  - case_id: a\n    variants: {female: Describe a woman., male: Describe a man.}\n"
    )
    path.write_text(text)
    assert load_suite(str(path)).sequential.looks == [2, 6]
    path.write_text(text.replace("[2, 6]", "[6, 2]"))
    assert main(["suites", "validate", str(path)]) == 2
    assert "sequential.looks" in capsys.readouterr().err
    assert main(["calibrate", "--sequential", "--looks", "3,1", "--runs", "1"]) == 2
    assert "--looks: looks must increase" in capsys.readouterr().err
    path.write_text(text.replace("[2, 6]", "[2, 6]\n  spend: [1, 2]"))
    assert main(["suites", "validate", str(path)]) == 2
    assert "spend needs 3 shares: one for each of the 2 looks" in capsys.readouterr().err
    path.write_text(text.replace("[2, 6]", "[2, 6]\n  spend: [1, 2, -1]"))
    assert main(["suites", "validate", str(path)]) == 2
    assert (
        "field sequential.spend: share 3 of spend must be a number > 0 (value: -1.0)\n"
        in capsys.readouterr().err
    )
    assert main(["calibrate", "--sequential", "--looks", "1,3", "--spend", "1,2", "--runs", "1"]) == 2
    assert "--spend: spend needs 3 shares" in capsys.readouterr().err
    assert main(["calibrate", "--sequential", "--spend", "1,2", "--runs", "1"]) == 2
    assert "--spend: shares alpha over looks: give --looks (suite 'seed-lab'" in capsys.readouterr().err
    assert main(["calibrate", "--sequential", "--spend", "1,x", "--runs", "1"]) == 2
    assert "--spend: relative shares of alpha" in capsys.readouterr().err
    assert main(["calibrate", "--spend", "1,1", "--runs", "1"]) == 2
    assert "--spend: applies to --sequential only" in capsys.readouterr().err


def test_a_sequential_run_is_analysed_with_the_looks_and_shares_it_sampled_by(tmp_path):
    """A suite's looks and spend and the run's alpha: recorded in run.json, and the Spark job's
    design read back from it spends the same alpha at each look as the rounds that decided when to
    stop."""
    import yaml

    from bias_audit.analyze.job import sequential_design

    document = yaml.safe_load(Path(SIX_OCCUPATIONS).read_text(encoding="utf-8"))
    suite = tmp_path / "six-with-spend.yaml"
    suite.write_text(yaml.safe_dump({**document, "sequential": {"looks": [2, 4], "spend": [1, 2, 1]}}))
    with FakeAzureOpenAI(ServerState(answer_for=longer_for_women)) as server:
        config = RunConfig.build(
            run_id="l", suite=str(suite), provider="azure", mode="sequential", max_samples=8,
            thresholds={"alpha": 0.02},
        )  # fmt: skip
        result = generate(config, tmp_path, azure(server))
    manifest = RunFolder.of(tmp_path, "l").read_manifest()
    recorded = manifest["sequential"]
    assert recorded["looks"] == [2, 4, 8] and result.sent == 18 * manifest["samples"]
    assert recorded["alphas"] == pytest.approx([0.005, 0.01, 0.005])  # the run's alpha, 0.02, shared
    design, _, rounds = sequential_design(manifest)
    assert design.looks == (2, 4, 8) and rounds == manifest["rounds"]
    assert design.alphas == pytest.approx((0.005, 0.01, 0.005))


@pytest.mark.heavy
def test_a_suites_own_looks_survive_a_kill_and_resume(tmp_path):
    """A suite's schedule, resumed mid-run: the resumed run asks for the same requests as one that
    was never killed, at the suite's looks, and sends nothing twice."""
    import yaml

    document = yaml.safe_load(Path(SIX_OCCUPATIONS).read_text(encoding="utf-8"))
    suite = tmp_path / "six-with-looks.yaml"
    suite.write_text(yaml.safe_dump({**document, "sequential": {"looks": [2, 4]}}))
    state = ServerState(answer_for=worded)
    config = RunConfig.build(
        run_id="k", suite=str(suite), provider="azure", mode="sequential", max_samples=8, concurrency=1
    )
    with FakeAzureOpenAI(state) as server:
        with pytest.raises(Killed, match="worker killed"):
            generate(config, tmp_path / "runs", CrashAfter(azure(server), 36 + 7))  # in round 2
        resumed = generate(config, tmp_path / "runs", azure(server))
        sent = [(m["body"]["messages"][-1]["content"], m["body"]["seed"]) for m in state.received]
    with FakeAzureOpenAI(ServerState(answer_for=worded)) as server:
        clean = generate(config, tmp_path / "clean", azure(server))
    assert len(sent) == len(set(sent)), "a request was sent twice"
    manifest = RunFolder.of(tmp_path / "runs", "k").read_manifest()
    assert manifest["sequential"]["looks"] == [2, 4, 8] and resumed.total == clean.total
    assert (
        manifest["sequential"]["round_log"]
        == RunFolder.of(tmp_path / "clean", "k").read_manifest()["sequential"]["round_log"]
    )


def test_each_round_says_what_is_left_of_the_run_as_a_range():
    from bias_audit.generate import rest_of_run
    from bias_audit.stats.design import Design

    design = Design(50)  # looks at 5, 15, 30, 50
    said = rest_of_run(design, 1, 40, pace=0.5)
    # 40 prompts: the next look alone (10 more samples each) up to the last (45 more each)
    assert said.startswith("the rest of the run: 400 to 1,800 more requests (40 prompts still sampled")
    assert "ETA 3m20s to 15m00s at this round's pace" in said
    # the round before the last: the next look is the last one
    assert rest_of_run(design, 3, 10, pace=1.0).startswith("the rest of the run: 200 to 200 more requests")


def test_without_the_futility_stop_a_fair_seed_lab_run_samples_to_the_last_look():
    # the rule before futility stops, kept for benchmarks/validity.py's side-by-side: seed-lab's
    # comparisons across 2-3 cases cannot be settled, so with the stop a fair run ends early, and
    # without it samples every prompt on to max_samples
    import numpy as np

    from bias_audit.calibrate import layout, run_sequentially
    from bias_audit.stats.design import Design
    from bias_audit.suites import load_suite
    from bias_audit.thresholds import Thresholds

    cases = layout(load_suite("seed-lab"))
    ended = {}
    for futility in (True, False):
        rng = np.random.default_rng(3)
        run = run_sequentially(cases, Design(50, futility=futility), rng, {}, Thresholds())
        ended[futility] = (run.reason, run.rounds, run.requests)
    assert ended[True][0] == "futile" and ended[True][1] < 4 and ended[True][2] < 500
    assert ended[False] == ("max_samples", 4, 500)  # 10 prompts x 50
