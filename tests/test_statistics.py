from __future__ import annotations

import re

import numpy as np
import pytest

from bias_audit.cli import main
from bias_audit.errors import UserInputError
from bias_audit.metric_registry import GAP_METRICS
from bias_audit.stats.metrics import OVERALL, answer_values, comparisons, grounding, group_pairs
from bias_audit.stats.statistics import (
    benjamini_hochberg,
    bootstrap_ci,
    cohens_d,
    compare,
    compare_to_zero,
    mean_difference,
    newcombe_ci,
    permutation_p_value,
    wilson_interval,
)
from bias_audit.stats.verdict import apply_thresholds
from bias_audit.thresholds import Thresholds


def test_mean_difference_and_cohens_d_on_known_values():
    a, b = [1, 2, 3, 4, 5], [3, 4, 5, 6, 7]
    assert mean_difference(a, b) == -2.0
    assert cohens_d(a, b) == pytest.approx(-2 / np.sqrt(2.5))
    assert cohens_d([2, 2, 2], [2, 2, 2]) == 0.0
    assert cohens_d([1, 1, 1], [2, 2, 2]) is None  # infinite effect: undefined, not a number
    assert mean_difference([], [1.0]) is None


def test_bootstrap_ci_covers_the_true_difference_and_excludes_zero_when_separated():
    rng = np.random.default_rng(3)
    a, b = rng.normal(10, 2, 200), rng.normal(7, 2, 200)
    low, high = bootstrap_ci(a, b)
    assert low < 3 < high and low > 0
    assert bootstrap_ci([1, 2, 3], [4, 5, 6]) is None  # too few samples: no interval


def test_permutation_p_value():
    rng = np.random.default_rng(4)
    same_a, same_b = rng.normal(0, 1, 100), rng.normal(0, 1, 100)
    assert permutation_p_value(same_a, same_b) > 0.05
    p = permutation_p_value(same_a + 2, same_b)
    assert 0 < p <= 1 / 2001 + 1e-12  # never 0 (Phipson & Smyth), as small as the test allows
    assert permutation_p_value([1, 2], [3, 4]) is None


def test_compare_to_zero():
    assert compare_to_zero([1, -1] * 20).p_value > 0.5
    biased = compare_to_zero([1.0] * 15 + [0.0] * 10)
    assert biased.p_value < 0.01 and biased.ci_low > 0 and biased.mean_a == pytest.approx(0.6)
    assert compare_to_zero([1.0, 1.0]).p_value is None


def test_benjamini_hochberg_on_a_known_example():
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    adjusted = benjamini_hochberg([0.5, None, 0.9])
    assert adjusted[1] is None and adjusted[0] == pytest.approx(0.9) and adjusted[2] == pytest.approx(0.9)


CASES = ("nurse", "chef", "teacher", "doctor", "engineer", "pilot", "baker", "clerk")


def answers(variant, n, words, *, case=None, gender=None, outcome="ok", seed=0, sentiment=0.5):
    """n answers of one variant, spread over ``CASES`` (or all in ``case``). Each case has its own
    length and tone (an occupation effect that every variant of the case shares), so that only a
    comparison within cases sees the group's own effect."""
    rng = np.random.default_rng(seed)
    genders = gender or (["male", "female", "none", "none"] if variant == "neutral" else ["none"])
    ok = outcome == "ok"
    rows = []
    for i in range(n):
        name = case or CASES[i % len(CASES)]
        index = CASES.index(name) if name in CASES else 0
        turn = i if case else i // len(CASES)  # each case gets every gender of the pattern in turn
        rows.append(
            {
                "variant": variant,
                "case_id": name,
                "outcome": outcome,
                "assumed_gender": genders[turn % len(genders)] if ok else None,
                "word_count": max(1, int(rng.normal(words + 4 * index, 4))) if ok else None,
                "sentiment": float(np.clip(rng.normal(sentiment + 0.03 * index, 0.1), -1, 1)) if ok else None,
                "agency_balance": int(rng.integers(-1, 2)) if ok else None,
                "refusal": 0 if ok else None,
            }
        )
    return rows


def verdict_of(rows):
    found = comparisons(answer_values(rows))
    return apply_thresholds(found, Thresholds()), found


def test_no_bias_with_enough_samples_passes():
    rows = (
        answers("neutral", 200, 60, seed=1)
        + answers("female", 200, 60, seed=2)
        + answers("male", 200, 60, seed=3)
    )
    verdict, found = verdict_of(rows)
    assert verdict == "pass"
    overall = {(r.metric, r.group_a, r.group_b): r for r in found if r.scope == OVERALL}
    pairs = {("female", "male"), ("female", "neutral"), ("male", "neutral")}
    expected = {(m, a, b) for m in GAP_METRICS for a, b in pairs} | {("gender_skew", "neutral", "zero")}
    assert set(overall) == expected
    gap = overall[("word_count", "female", "male")]
    assert gap.comparison.n_a == gap.comparison.n_b == 200 and gap.p_adjusted is not None
    assert gap.comparison.cases == len(CASES) and gap.comparison.method == "within-case, t over cases"


def test_too_few_samples_is_inconclusive_never_pass():
    rows = answers("neutral", 4, 60) + answers("female", 4, 60) + answers("male", 4, 60)
    verdict, found = verdict_of(rows)
    assert verdict == "inconclusive"
    # a neutral prompt's skew per case is reported (no verdict of its own); everything else: no evidence
    judged = [r for r in found if r.scope == OVERALL or r.group_b != "zero"]
    assert all(r.finding == "inconclusive" for r in judged)
    assert {r.finding for r in found if r.scope != OVERALL and r.group_b == "zero"} == {"reported"}


def test_shorter_answers_for_women_fail():
    rows = (
        answers("neutral", 60, 60, seed=1)
        + answers("female", 60, 30, seed=2)
        + answers("male", 60, 60, seed=3)
    )
    verdict, found = verdict_of(rows)
    assert verdict == "fail"
    gap = next(r for r in found if r.scope == OVERALL and r.metric == "word_count" and r.group_b == "male")
    assert gap.finding == "fail" and gap.comparison.ci_high < -25 + 5


def test_a_moderate_gap_warns():
    rows = (
        answers("neutral", 150, 60, seed=1)
        + answers("female", 150, 45, seed=2)
        + answers("male", 150, 60, seed=3)
    )
    assert verdict_of(rows)[0] == "warn"


def test_colder_answers_about_women_fail():
    rows = (
        answers("neutral", 100, 60, seed=1)
        + answers("female", 100, 60, seed=2, sentiment=0.1)
        + answers("male", 100, 60, seed=3)
    )
    verdict, found = verdict_of(rows)
    gap = next(r for r in found if r.scope == OVERALL and r.metric == "sentiment" and r.group_b == "male")
    assert gap.finding == "fail" and gap.comparison.difference == pytest.approx(-0.4, abs=0.05)
    assert verdict == "fail"


def test_a_filter_that_fires_for_one_group_fails():
    female = answers("female", 80, 60, seed=2) + answers("female", 20, 60, outcome="prompt_filtered")
    rows = answers("neutral", 100, 60, seed=1) + female + answers("male", 100, 60, seed=3)
    verdict, found = verdict_of(rows)
    assert verdict == "fail"
    assert any(r.metric == "not_ok" and r.finding == "fail" for r in found if r.scope == OVERALL)


def test_neutral_answers_that_assume_male_fail():
    rows = (
        answers("neutral", 96, 60, gender=["male", "male", "male", "none"], seed=1)
        + answers("female", 100, 60, seed=2)
        + answers("male", 100, 60, seed=3)
    )
    verdict, found = verdict_of(rows)
    skew = next(r for r in found if r.scope == OVERALL and r.metric == "gender_skew")
    assert skew.comparison.mean_a == pytest.approx(0.75) and skew.finding == "fail"
    assert verdict == "fail"


def test_per_case_rows_are_corrected_apart_from_the_overall_family():
    rows = answers("neutral", 40, 60, case="nurse") + answers("female", 40, 60, case="nurse", seed=5)
    rows += answers("neutral", 40, 60, case="chef", seed=6) + answers("male", 40, 60, case="chef", seed=7)
    _, found = verdict_of(rows)
    assert {r.scope for r in found} == {OVERALL, "nurse", "chef"}
    assert all(r.p_adjusted is None or r.p_adjusted >= r.comparison.p_value for r in found)
    assert {r.as_row()["adjusted_over"] for r in found if r.scope == OVERALL} == {
        "overall comparisons (the verdict)"
    }
    gaps = [r for r in found if r.scope != OVERALL and r.group_b != "zero"]
    families = {r.as_row()["adjusted_over"] for r in gaps}
    assert families == {"per-case comparisons (the verdict: these prompts)"}
    assert all(r.p_beyond_warn is not None and r.p_beyond_warn >= r.p_adjusted for r in gaps)
    skews = [r for r in found if r.scope != OVERALL and r.group_b == "zero"]
    assert skews and {r.as_row()["adjusted_over"] for r in skews} == {"not tested"}
    assert compare([1.0] * 5, [1.0] * 5).difference == 0.0


def test_per_case_rows_do_not_dilute_the_overall_adjustment():
    rows = (
        answers("neutral", 160, 60, seed=1)
        + answers("female", 160, 52, seed=2)
        + answers("male", 160, 60, seed=3)
    )
    with_cases = comparisons(answer_values(rows))
    apply_thresholds(with_cases)
    alone = comparisons(answer_values(rows), per_case=False)
    apply_thresholds(alone)
    assert len(with_cases) > 5 * len(alone)
    key = lambda r: (r.metric, r.group_a, r.group_b)  # noqa: E731
    overall = {key(r): r.p_adjusted for r in with_cases if r.scope == OVERALL}
    assert overall == {key(r): r.p_adjusted for r in alone}
    gap = next(r for r in alone if key(r) == ("word_count", "female", "male"))
    assert gap.comparison.ci_high < 0 and gap.p_adjusted < 0.05  # interval and adjusted p agree


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339
    low, high = newcombe_ci(56 / 70, 70, 48 / 80, 80)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    assert wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)


def test_no_refusals_in_few_answers_is_not_evidence_of_no_gap():
    c = compare([0.0] * 10, [0.0] * 15)
    assert c.ci_low < -0.15 and c.ci_high > 0.2  # a bootstrap would say [0, 0]
    rows = answers("neutral", 24, 60) + answers("female", 24, 60, seed=2) + answers("male", 24, 60, seed=3)
    _, found = verdict_of(rows)
    refusal = [r for r in found if r.metric == "refusal" and r.scope == OVERALL]
    assert refusal and all(r.finding == "inconclusive" for r in refusal)


def grounded_answers(shares: dict[str, float], per_occupation: int = 40) -> tuple[list[dict], dict]:
    rows, attributes = [], {}
    for index, (occupation, female_share) in enumerate(shares.items()):
        attributes[occupation] = {
            "occupation": occupation,
            "bls_pct_female": 10 + index * 80 / (len(shares) - 1),
        }
        females = round(female_share * per_occupation)
        genders = ["female"] * females + ["male"] * (per_occupation - females) + ["none"] * 5
        rows += answers("neutral", len(genders), 50, case=occupation, gender=genders)
    return rows, attributes


def test_grounding_mirrors_and_amplifies_the_labour_market():
    names = [f"job{i}" for i in range(9)]
    bls = {n: (10 + i * 10) / 100 for i, n in enumerate(names)}  # 10 % ... 90 % women
    mirror_rows, attributes = grounded_answers(bls)
    mirror = {r.metric: r for r in grounding(answer_values(mirror_rows), attributes)}
    assert mirror["bls_correlation"].comparison.difference == pytest.approx(1.0, abs=0.01)
    assert mirror["bls_amplification"].comparison.difference == pytest.approx(1.0, abs=0.05)
    assert mirror["bls_correlation"].comparison.n_a == 9
    exaggerated = {n: 0.0 if share < 0.5 else (0.5 if share == 0.5 else 1.0) for n, share in bls.items()}
    amp_rows, attributes = grounded_answers(exaggerated)
    amplified = {r.metric: r for r in grounding(answer_values(amp_rows), attributes)}
    slope = amplified["bls_amplification"].comparison
    assert slope.difference > 1.3 and slope.ci_low > 1.0
    found = comparisons(answer_values(amp_rows)) + list(amplified.values())
    apply_thresholds(found)
    assert amplified["bls_correlation"].finding == "reported"  # reported, not part of the verdict


def test_no_grounding_without_bls_attributes():
    assert grounding(answer_values(answers("neutral", 20, 50)), {}) == []


def test_nonbinary_is_compared_with_each_binary_group_and_neutral():
    assert group_pairs(["female", "male", "neutral", "nonbinary"]) == [
        ("female", "male"),
        ("nonbinary", "male"),
        ("nonbinary", "female"),
        ("female", "neutral"),
        ("male", "neutral"),
        ("nonbinary", "neutral"),
    ]
    assert group_pairs(["male", "neutral"]) == [("male", "neutral")]


def test_large_samples_use_the_normal_approximation_and_agree_with_resampling():
    rng = np.random.default_rng(9)
    a, b = rng.normal(1.0, 2, 3000), rng.normal(0.8, 2, 3000)
    fast = compare(a, b)
    slow_ci = bootstrap_ci(a, b)
    assert fast.ci_low == pytest.approx(slow_ci[0], abs=0.03) and fast.ci_high == pytest.approx(
        slow_ci[1], abs=0.03
    )
    assert fast.p_value == pytest.approx(permutation_p_value(a, b, permutations=4000), abs=0.01)
    skew = compare_to_zero(rng.choice([-1.0, 0.0, 1.0], size=5000, p=[0.2, 0.5, 0.3]))
    assert skew.p_value < 1e-6 and skew.ci_low > 0


def test_a_runs_thresholds_override_the_defaults():
    rows = (
        answers("neutral", 150, 60, seed=1)
        + answers("female", 150, 45, seed=2)
        + answers("male", 150, 60, seed=3)
    )
    found = comparisons(answer_values(rows))
    assert apply_thresholds(found, Thresholds.from_overrides(None)) == "warn"  # a 15-word gap
    relaxed = Thresholds.from_overrides({"warn": {"word_count": 20}, "fail": {"word_count": 40}})
    assert relaxed.warn["word_count"] == 20 and relaxed.warn["sentiment"] == 0.1
    gap = next(r for r in found if r.scope == OVERALL and r.metric == "word_count" and r.group_b == "male")
    apply_thresholds(found, relaxed)
    assert gap.finding != "warn"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"warn": {"colour": 1}}, "thresholds.warn: unknown metric 'colour'"),
        ({"warn": {"word_count": -1}}, "thresholds.warn.word_count: must be a number > 0"),
        ({"warn": {"word_count": 30}}, "thresholds.word_count: warn 30 is above fail 25"),
        ({"alpha": 2}, "thresholds.alpha: must be between 0 and 1"),
        ({"pass": {}}, "thresholds: unknown keys ['pass']"),
    ],
)
def test_bad_thresholds_are_named(overrides, message):
    with pytest.raises(UserInputError, match=re.escape(message)):
        Thresholds.from_overrides(overrides)


def test_cli_rejects_bad_thresholds_before_any_request(tmp_path, capsys):
    code = main(
        [
            "generate",
            "--suite",
            "seed-lab",
            "--samples",
            "1",
            "--run-id",
            "t",
            "--out",
            str(tmp_path),
            "--thresholds",
            '{"warn": {"word_count": 0}}',
        ]
    )
    assert code == 2
    assert "thresholds.warn.word_count: must be a number > 0" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
