"""Calibration of the verdict: the synthetic runs carry the gap they claim, and the figures
(false alarms, power, detectable gap) respond to it."""

from __future__ import annotations

import json
from dataclasses import replace
from statistics import mean

import numpy as np
import pytest

from bias_audit.calibrate import (
    DEFAULT_VARIATION,
    Variation,
    biased_group,
    calibrate,
    estimate_variation,
    format_variation,
    layout,
    max_gap,
    simulate,
)
from bias_audit.cli import main
from bias_audit.suites import load_suite
from bias_audit.thresholds import Thresholds

SEED_LAB = load_suite("seed-lab")
OCCUPATIONS = load_suite("occupations-gender")


def test_layout_and_biased_group_follow_the_suite():
    cases = layout(SEED_LAB)
    assert cases["engineer"] == ["neutral", "female"] and cases["nurse"] == ["neutral", "male"]
    assert biased_group(cases) == "female"
    assert biased_group({"c": ["neutral", "nonbinary", "male"]}) == "male"


NO_EFFECTS = {m: replace(v, case_sd=0.0, prompt_sd=0.0) for m, v in DEFAULT_VARIATION.items()}


def test_simulate_injects_the_gap_into_one_group_only():
    rng = np.random.default_rng(1)
    values = simulate(
        {"c": ["neutral", "male", "female"]},
        4000,
        rng,
        {"word_count": 30, "refusal": 0.2},
        variation=NO_EFFECTS,
    )
    by = {g: [v for v in values if v["variant"] == g] for g in ("neutral", "male", "female")}
    assert len(values) == 12000
    assert mean(v["word_count"] for v in by["female"]) - mean(v["word_count"] for v in by["male"]) == (
        pytest.approx(30, abs=1.5)
    )
    assert abs(mean(v["word_count"] for v in by["neutral"]) - mean(v["word_count"] for v in by["male"])) < 1.5
    assert mean(v["refusal"] for v in by["female"]) == pytest.approx(0.25, abs=0.03)
    assert mean(v["refusal"] for v in by["male"]) == pytest.approx(0.05, abs=0.02)


def test_injected_skew_moves_neutral_answers_towards_male():
    rng = np.random.default_rng(2)
    values = simulate({"c": ["neutral", "female"]}, 4000, rng, {"gender_skew": 0.4}, variation=NO_EFFECTS)
    neutral = [v["gender_skew"] for v in values if v["variant"] == "neutral"]
    assert mean(neutral) == pytest.approx(0.4, abs=0.04)
    assert max_gap("gender_skew") == pytest.approx(0.8) and max_gap("word_count") == float("inf")


def test_synthetic_answers_have_case_and_prompt_effects_that_estimation_recovers():
    truth = {
        "word_count": Variation(centre=60.0, answer_sd=18.0, case_sd=12.0, prompt_sd=6.0),
        "refusal": Variation(centre=0.1, answer_sd=0.0, case_sd=0.8, prompt_sd=0.0),
        "gender_skew": Variation(centre=0.2, answer_sd=0.0, case_sd=1.0, prompt_sd=0.0),
    }
    rng = np.random.default_rng(3)
    values = simulate(layout(load_suite("occupations-gender")), 20, rng, {}, variation=truth)
    cases = {}
    for v in values:
        cases.setdefault(v["case_id"], []).append(v["word_count"])
    assert np.std([np.mean(x) for x in cases.values()]) > 10  # cases differ: not one centre
    found = estimate_variation(values)
    words = found["word_count"]
    assert words.answer_sd == pytest.approx(18.0, rel=0.05)
    assert words.case_sd == pytest.approx(12.0, rel=0.2)
    assert words.prompt_sd == pytest.approx(6.0, rel=0.25)
    assert found["refusal"].case_sd == pytest.approx(0.8, rel=0.35)  # delta-method logits: rougher
    assert found["gender_skew"].case_sd == pytest.approx(1.0, rel=0.35)
    assert "word_count" in format_variation(found)


@pytest.fixture(scope="module")
def occupations_at_5():
    return calibrate(OCCUPATIONS, 5, runs=20, metrics=("word_count", "refusal"))


@pytest.mark.heavy
def test_many_cases_detect_the_fail_threshold_without_false_alarms(occupations_at_5):
    for c in occupations_at_5:
        assert c.cases == 180 and c.target == "female"
        assert c.false_alarm_rate <= 0.05
        assert c.power_at_fail >= 0.9
        assert c.detectable_gap is not None and c.detectable_gap <= c.fail_threshold
        assert 0.85 <= c.coverage <= 1.0


def test_seed_lab_cannot_decide_gaps_of_women_and_says_how_many_cases():
    (female,) = calibrate(SEED_LAB, 50, runs=10, metrics=("word_count",))
    assert (female.target, female.cases) == ("female", 2)
    assert female.power_at_fail == 0.0 and female.unbiased_pass_rate == 0.0
    assert female.coverage >= 0.9  # of the intervals there are: male vs neutral (3 cases)
    few, many = (calibrate(SEED_LAB, k, runs=20, metrics=("word_count",), target="male")[0] for k in (2, 50))
    assert few.cases == many.cases == 3
    assert few.power_at_fail < many.power_at_fail


def test_thresholds_set_the_injected_gap():
    c = calibrate(
        OCCUPATIONS,
        2,
        runs=2,
        metrics=("sentiment",),
        thresholds=Thresholds.from_overrides({"fail": {"sentiment": 0.5}}),
    )[0]
    assert c.fail_threshold == 0.5 and c.largest_tested >= 0.5


def test_calibrate_cli_prints_json(capsys):
    assert main(["calibrate", "--runs", "2", "--samples", "3", "--metric", "refusal", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["metric"] == "refusal" and row["samples"] == 3 and row["runs"] == 2
    assert 0.0 <= row["false_alarm_rate"] <= 1.0
    assert row["largest_tested"] <= max_gap("refusal")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--samples", "0"], "--samples: must be >= 1 (value: 0)"),
        (["--runs", "-1"], "--runs: must be >= 1 (value: -1)"),
        (["--suite", "no-such-suite"], "no-such-suite"),
        (["--thresholds", '{"fail": {"sentiment": -1}}'], "thresholds.fail.sentiment"),
        (["--group", "martian"], "--group: not a group of suite 'seed-lab'"),
        (["--from-run", "never-analysed", "--warehouse", "/nonexistent"], "no analysed run 'never-analysed'"),
    ],
)
def test_calibrate_cli_rejects_bad_input(capsys, args, message):
    assert main(["calibrate", *args]) == 2
    assert message in capsys.readouterr().err


def test_compare_finds_a_mitigation_and_no_change_where_there_was_none():
    from bias_audit.calibrate import calibrate_compare

    (words,) = calibrate_compare(OCCUPATIONS, 5, runs=10, metrics=("word_count",))
    assert words.false_finding_rate <= 0.1 and words.unchanged_rate >= 0.9
    assert words.power_reduction >= 0.9
    (seed_lab,) = calibrate_compare(SEED_LAB, 5, runs=10, metrics=("word_count",))
    assert seed_lab.power_reduction == 0.0  # 2 cases for women: too few to tell a change either
    assert (
        main(["calibrate", "--compare", "--runs", "2", "--samples", "2", "--metric", "refusal", "--json"])
        == 0
    )
