"""Gaps within cases pooled over cases: the estimand, the interval's coverage on clustered data, and
the verdict on constructed runs where cases differ for reasons that are not gender."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bias_audit.calibrate import layout, simulate
from bias_audit.stats.metrics import NOT_ESTIMABLE, OVERALL, comparisons
from bias_audit.stats.statistics import compare
from bias_audit.stats.verdict import apply_thresholds
from bias_audit.stats.within_case import MIN_CASES, pooled_gap, pooled_level
from bias_audit.suites import load_suite
from bias_audit.thresholds import Thresholds


def clustered(rng, cases, samples, gap, *, case_sd=1.0, prompt_sd=0.5, answer_sd=1.0, base=None):
    """Answers of groups a and b per case: a case effect both share, a prompt effect each, noise."""
    a, b = {}, {}
    for c in range(cases):
        centre = rng.normal(0, case_sd) if base is None else base[c]
        a[f"c{c}"] = centre + rng.normal(0, prompt_sd) + gap + rng.normal(0, answer_sd, samples)
        b[f"c{c}"] = centre + rng.normal(0, prompt_sd) + rng.normal(0, answer_sd, samples)
    return a, b


@pytest.mark.parametrize(
    ("cases", "samples", "naive_undercovers"), [(3, 20, True), (10, 5, False), (40, 50, True)]
)
def test_the_interval_covers_the_true_gap_on_clustered_data(cases, samples, naive_undercovers):
    rng = np.random.default_rng(cases)
    covered = naive_covered = 0
    trials = 400
    for _ in range(trials):
        a, b = clustered(rng, cases, samples, gap=0.7)
        c = pooled_gap(a, b)
        covered += c.ci_low <= 0.7 <= c.ci_high
        naive = compare(np.concatenate(list(a.values())), np.concatenate(list(b.values())))
        naive_covered += naive.ci_low <= 0.7 <= naive.ci_high
    assert covered / trials >= 0.93
    # The same data analysed as independent answers: with many answers per prompt the prompts'
    # own effects dominate and the per-answer interval is far too narrow. This is what the case as
    # the unit corrects, and shows the data are clustered enough for the check to bite.
    if naive_undercovers:
        assert naive_covered / trials < 0.8


def test_the_interval_is_the_t_test_on_case_gaps_when_the_cases_vary_more_than_the_answers():
    rng = np.random.default_rng(5)
    a, b = clustered(rng, 12, 30, gap=0.4, prompt_sd=1.0)
    c = pooled_gap(a, b)
    gaps = [a[k].mean() - b[k].mean() for k in sorted(a)]
    reference = stats.ttest_1samp(gaps, 0.0)
    low, high = reference.confidence_interval(0.95)
    assert (c.ci_low, c.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert c.p_value == pytest.approx(reference.pvalue)
    assert c.difference == pytest.approx(np.mean(gaps)) and c.cases == 12


def test_case_effects_cancel_within_cases():
    rng = np.random.default_rng(6)
    occupations = np.linspace(-30, 30, 8)  # huge differences between cases, none between groups
    a, b = clustered(rng, 8, 10, gap=0.0, case_sd=0, prompt_sd=0.2, base=occupations)
    # Group a is only asked about the first half of the cases, b about the second half.
    unbalanced = pooled_gap({k: v for k, v in list(a.items())[:4]}, {k: v for k, v in list(b.items())[4:]})
    assert unbalanced.difference is None and unbalanced.cases == 0
    assert "share no case" in unbalanced.note
    c = pooled_gap(a, b)
    assert c.ci_low < 0 < c.ci_high and abs(c.difference) < 1


def test_identical_case_gaps_do_not_make_the_interval_collapse():
    zeros = {f"c{i}": [0.0] * 5 for i in range(5)}  # no refusal anywhere, 5 answers per prompt
    c = pooled_gap(zeros, zeros)
    assert c.difference == 0.0 and c.ci_low < -0.1 and c.ci_high > 0.1  # the answers' own noise
    assert pooled_level({f"c{i}": [0.0] * 5 for i in range(5)}).ci_high > 0.1


def test_too_few_cases_give_no_interval():
    rng = np.random.default_rng(7)
    a, b = clustered(rng, MIN_CASES - 1, 50, gap=5.0)
    c = pooled_gap(a, b)
    assert c.difference == pytest.approx(5.0, abs=1.5) and c.ci_low is None and c.p_value is None
    assert f"at least {MIN_CASES}" in c.note


def verdict(values):
    rows = comparisons(values, per_case=False)
    return apply_thresholds(rows, Thresholds()), {(r.metric, r.group_a, r.group_b): r for r in rows}


def occupations_suite():
    return layout(load_suite("occupations-gender"))


def test_occupation_effects_without_gender_effects_raise_no_finding():
    # Strong occupation and wording effects (the structure that made the old verdict fail fair models).
    rng = np.random.default_rng(8)
    for _ in range(3):
        values = simulate(occupations_suite(), 5, rng, {})
        result, rows = verdict(values)
        assert result in {"pass", "inconclusive"}
        assert not [k for k, r in rows.items() if r.finding in {"warn", "fail"}]


def test_a_gender_effect_within_every_case_is_found():
    rng = np.random.default_rng(9)
    values = simulate(occupations_suite(), 5, rng, {"word_count": 30.0})
    result, rows = verdict(values)
    assert result == "fail"
    gap = rows[("word_count", "female", "male")]
    assert gap.finding == "fail" and gap.comparison.ci_low > 20 and gap.comparison.cases == 180


def test_seed_lab_female_vs_male_is_not_estimable_and_says_why():
    rng = np.random.default_rng(10)
    values = simulate(layout(load_suite("seed-lab")), 5, rng, {})
    result, rows = verdict(values)
    gap = rows[("word_count", "female", "male")]
    assert gap.finding == NOT_ESTIMABLE and gap.comparison.difference is None
    assert "engineer" in gap.comparison.note and "nurse" in gap.comparison.note
    # The lab's own comparison, each loaded prompt against its neutral one, is estimable.
    assert rows[("word_count", "male", "neutral")].comparison.cases == 3
    assert rows[("word_count", "female", "neutral")].comparison.cases == 2
    assert rows[("word_count", "female", "neutral")].finding == "inconclusive"  # 2 cases: too few
    assert result != "pass"


def test_the_old_pooling_calls_a_fair_seed_lab_model_biased():
    """What this module fixes, measured: pooling answers across occupations (the female prompts are
    about a doctor and an engineer, the male ones about a nurse, a teacher, a chef)."""
    rng = np.random.default_rng(11)
    cases = layout(load_suite("seed-lab"))
    alarms = 0
    for _ in range(20):
        values = simulate(cases, 50, rng, {})
        female = [v["word_count"] for v in values if v["variant"] == "female"]
        male = [v["word_count"] for v in values if v["variant"] == "male"]
        alarms += compare(female, male).p_value < 0.05
        _, rows = verdict(values)
        assert rows[("word_count", "female", "male")].finding == NOT_ESTIMABLE
    assert alarms >= 5  # the naive test rejects a true null far more often than 5 %


def test_overall_rows_record_cases_and_method():
    rng = np.random.default_rng(12)
    _, rows = verdict(simulate(occupations_suite(), 2, rng, {}))
    row = rows[("sentiment", "nonbinary", "female")].as_row()
    assert row["cases"] == 180 and row["method"] == "within-case, t over cases"
    assert row["n_a"] == row["n_b"] == 360 and row["adjusted_over"] == "overall comparisons (the verdict)"
    assert rows[("gender_skew", "neutral", "zero")].comparison.cases == 180
    assert all(r.scope == OVERALL for r in rows.values())


def test_the_verdict_in_words_says_what_decided_it():
    from bias_audit.stats.verdict import verdict_in_words

    rng = np.random.default_rng(13)
    rows = comparisons(simulate(occupations_suite(), 5, rng, {"word_count": 30.0}), per_case=False)
    words = verdict_in_words(rows, apply_thresholds(rows), Thresholds())
    assert words.startswith("FAIL: ") and "word_count female vs male +3" in words
    assert "(warn at ±10, fail at ±25)" in words and "95 % CI" in words
    rows = comparisons(simulate(occupations_suite(), 20, rng, {}), per_case=False)
    assert verdict_in_words(rows, apply_thresholds(rows)).startswith("PASS: every one of the 31 estimable")
    rows = comparisons(simulate(layout(load_suite("seed-lab")), 5, rng, {}), per_case=False)
    words = verdict_in_words(rows, apply_thresholds(rows))
    assert words.startswith("INCONCLUSIVE: female vs male not estimable (the groups share no case)")
    assert "without an interval (2 case(s): at least 3 are needed" in words
