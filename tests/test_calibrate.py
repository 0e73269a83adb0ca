"""Calibration of the verdict: the synthetic runs carry the gap they claim, and the figures
(false alarms, power, detectable gap) respond to it."""

from __future__ import annotations

import json
from statistics import mean

import numpy as np
import pytest

from bias_audit.analyze.calibrate import biased_group, calibrate, layout, max_gap, simulate
from bias_audit.analyze.metrics import Thresholds
from bias_audit.cli import main
from bias_audit.suites import load_suite

SEED_LAB = load_suite("seed-lab")


def test_layout_and_biased_group_follow_the_suite():
    cases = layout(SEED_LAB)
    assert cases["engineer"] == ["neutral", "female"] and cases["nurse"] == ["neutral", "male"]
    assert biased_group(cases) == "female"
    assert biased_group({"c": ["neutral", "nonbinary", "male"]}) == "male"


def test_simulate_injects_the_gap_into_one_group_only():
    rng = np.random.default_rng(1)
    values = simulate({"c": ["neutral", "male", "female"]}, 4000, rng, {"word_count": 30, "refusal": 0.2})
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
    values = simulate({"c": ["neutral", "female"]}, 4000, rng, {"gender_skew": 0.4})
    neutral = [v["gender_skew"] for v in values if v["variant"] == "neutral"]
    assert mean(neutral) == pytest.approx(0.4, abs=0.04)
    assert max_gap("gender_skew") == pytest.approx(0.8) and max_gap("word_count") == float("inf")


@pytest.fixture(scope="module")
def word_count_at_50():
    return calibrate(SEED_LAB, 50, runs=10, metrics=("word_count",))[0]


def test_large_samples_detect_the_fail_threshold_without_false_alarms(word_count_at_50):
    c = word_count_at_50
    assert (c.metric, c.samples, c.runs, c.fail_threshold) == ("word_count", 50, 10, 25.0)
    assert c.false_alarm_rate <= 0.1
    assert c.power_at_fail >= 0.9
    assert c.detectable_gap is not None and c.detectable_gap <= 25.0


def test_few_samples_detect_less_than_many(word_count_at_50):
    few = calibrate(SEED_LAB, 2, runs=10, metrics=("word_count",))[0]
    assert few.power_at_fail < word_count_at_50.power_at_fail
    # 2 answers per prompt: the 4-answer groups per case are below the minimum; no pass on no evidence
    assert few.unbiased_pass_rate == 0.0
    assert few.detectable_gap is None or few.detectable_gap > word_count_at_50.detectable_gap


def test_thresholds_set_the_injected_gap():
    c = calibrate(
        SEED_LAB,
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
    ],
)
def test_calibrate_cli_rejects_bad_input(capsys, args, message):
    assert main(["calibrate", *args]) == 2
    assert message in capsys.readouterr().err
