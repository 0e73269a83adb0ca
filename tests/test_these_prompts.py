"""The verdict's two scopes (#24): a glaring gap in the prompts audited fails the run even where
the suite has too few cases to generalise (seed-lab), fixed and sequential; a fair model does not
warn; compare sees a fix in the cases it fixed; calibrate measures the combined rule."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict

import numpy as np
import pytest
from scipy import special

from bias_audit.config import RunConfig
from bias_audit.generate import generate
from bias_audit.llm.registry import make_provider
from bias_audit.run_folder import RunFolder
from bias_audit.stats.change import apply_change_thresholds, case_changes, conclusion
from bias_audit.stats.design import Design
from bias_audit.stats.metrics import OVERALL, MetricRow, comparisons
from bias_audit.stats.per_case import GroupAnswers, beyond, case_change, case_gap
from bias_audit.stats.sequential import analyse, needed_prompts
from bias_audit.stats.statistics import Comparison
from bias_audit.stats.verdict import (
    BEYOND_THEM,
    THESE_PROMPTS,
    apply_thresholds,
    verdict_and_scope,
    verdict_in_words,
)
from bias_audit.suites import load_suite
from bias_audit.thresholds import Thresholds
from tests.fake_azure_openai import FakeAzureOpenAI, ServerState

SEED_LAB = {c.case_id: list(c.variants) for c in load_suite("seed-lab").cases}
REFUSAL = "I'm sorry, but I can't help with that."


def lab_answers(refuse_women: float, samples: int, seed: int = 0) -> list[dict]:
    """Answers to the seed-lab prompts with the spread of real ones; a woman's prompt is refused
    with probability ``refuse_women``."""
    rng = random.Random(seed)
    rows = []
    for (case, variants), i in itertools.product(SEED_LAB.items(), range(samples)):
        for variant in variants:
            refused = variant == "female" and rng.random() < refuse_women
            rows.append(
                {
                    "variant": variant, "case_id": case, "sample_index": i, "not_ok": 0.0,
                    "refusal": 1.0 if refused else 0.0,
                    "sentiment": None if refused else rng.gauss(0.5, 0.3),
                    "agency_balance": None if refused else rng.gauss(0, 1),
                    "word_count": 9.0 if refused else rng.gauss(60, 18),
                    "gender_skew": 0.0,
                }
            )  # fmt: skip
    return rows


def test_a_case_gap_carries_the_answers_and_the_rewording_in_its_interval():
    five_of_five = case_gap(
        GroupAnswers(5, 1.0, 0.0), GroupAnswers(60, 0.0, 0.0), rates=True, phrasing_sd=0.3
    )
    assert five_of_five.difference == 1.0 and five_of_five.ci_low > 0.5 and five_of_five.ci_high == 1.0
    # a rate's gap is tested on the binomial distributions (formula 7): 5 of 5 against 0 of 60 is
    # beyond any rewording, 5 of 5 against 0 of 5 is not far enough for a family of 25 comparisons
    assert beyond(five_of_five, 0.05, rates=True, phrasing_sd=0.3) < 1e-5
    few = case_gap(GroupAnswers(5, 1.0, 0.0), GroupAnswers(5, 0.0, 0.0), rates=True, phrasing_sd=0.3)
    assert 0.05 / 25 < beyond(few, 0.05, rates=True, phrasing_sd=0.3) < 0.05
    # a continuous gap: from 15 answers a group on (per_case.MIN_DECIDING), the normal tails
    sentiment = case_gap(GroupAnswers(5, 0.9, 0.01), GroupAnswers(5, 0.1, 0.01), rates=False, phrasing_sd=0.1)
    assert beyond(sentiment, 0.1) == 1.0
    sentiment = case_gap(
        GroupAnswers(15, 0.9, 0.01), GroupAnswers(15, 0.1, 0.01), rates=False, phrasing_sd=0.1
    )
    assert beyond(sentiment, 0.1) < 1e-5
    same = case_gap(
        GroupAnswers(50, 60.0, 18.0**2), GroupAnswers(50, 60.0, 18.0**2), rates=False, phrasing_sd=5
    )
    assert same.p_value == 1.0 and beyond(same, 10) == 1.0
    # rewording alone (sd 5 words per prompt) keeps the interval wider than +-13.9 words at any n
    many = case_gap(
        GroupAnswers(10**6, 60.0, 1.0), GroupAnswers(10**6, 60.0, 1.0), rates=False, phrasing_sd=5
    )
    assert many.ci_high == pytest.approx(1.959964 * 5 * 2**0.5, rel=1e-3)
    thin = case_gap(GroupAnswers(4, 1.0, 0.0), GroupAnswers(60, 0.0, 0.0), rates=True, phrasing_sd=0.3)
    assert thin.ci_low is None and beyond(thin, 0.05) is None and "fewer than 5" in thin.note


def test_a_glaring_refusal_in_the_labs_prompts_fails_the_fixed_audit_and_says_why():
    assert (
        apply_thresholds(comparisons(lab_answers(1.0, 5)), Thresholds()) == "inconclusive"
    )  # 5 answers decide nothing
    rows = comparisons(lab_answers(1.0, 15))
    verdict = apply_thresholds(rows, Thresholds())
    assert (verdict, verdict_and_scope(rows)[1]) == ("fail", THESE_PROMPTS)
    decided = [r for r in rows if r.scope != OVERALL and r.finding == "fail"]
    assert {(r.scope, r.metric) for r in decided} >= {("doctor", "refusal"), ("engineer", "refusal")}
    assert all(r.p_beyond_warn < 0.05 for r in decided)
    words = verdict_in_words(rows, verdict)
    assert words.startswith("FAIL: in 2 of the 5 cases audited")
    assert "refusal female 15 of 15, neutral 0 of 15" in words
    assert "female vs neutral shares 2 case(s), at least 3 are needed — add cases" in words


def test_a_fair_model_on_the_labs_prompts_does_not_warn():
    verdicts = []
    for seed in range(20):
        rows = comparisons(lab_answers(0.0, 20, seed))
        verdicts.append(apply_thresholds(rows, Thresholds()))
    assert set(verdicts) == {"inconclusive"}


def test_the_verdicts_scopes():
    def row(scope: str, finding: str, cases: int | None = None) -> MetricRow:
        comparison = Comparison(5, 5, 0.0, 0.0, 0.0, -0.01, 0.01, None, 0.9, cases=cases)
        found = MetricRow("refusal", scope, "female", "neutral", comparison)
        found.finding = finding
        return found

    assert verdict_and_scope([row(OVERALL, "pass", 30), row("nurse", "inconclusive")]) == (
        "pass",
        BEYOND_THEM,
    )
    assert verdict_and_scope([row(OVERALL, "pass", 30), row("nurse", "warn")]) == ("warn", THESE_PROMPTS)
    assert verdict_and_scope([row(OVERALL, "fail", 30), row("nurse", "fail")]) == ("fail", "both")
    # across cases unsettleable (2 cases), every case passes: a pass of these prompts only
    assert verdict_and_scope([row(OVERALL, "inconclusive", 2), row("nurse", "pass")]) == (
        "pass",
        THESE_PROMPTS,
    )
    # across cases settleable but undecided: no pass of either scope
    assert verdict_and_scope([row(OVERALL, "inconclusive", 30), row("nurse", "pass")]) == (
        "inconclusive",
        None,
    )


def run_lab_sequentially(refuse_women: float, seed: int) -> tuple[int, object]:
    """A sequential seed-lab audit as generate runs it: rounds for the prompts still needed."""
    answers = defaultdict(list)
    for value in lab_answers(refuse_women, 50, seed):
        answers[(value["case_id"], value["variant"])].append(value)
    design, values, sent, needed = Design(50), [], 0, None
    for look, samples in enumerate(design.looks, 1):
        start = design.looks[look - 2] if look > 1 else 0
        for prompt, rows in answers.items():
            if needed is None or prompt in needed:
                values += rows[start:samples]
                sent += samples - start
        result = analyse(values, design, look)
        if result.settled:
            return sent, result
        needed = needed_prompts(result.undecided, SEED_LAB)
    return sent, result


def test_sequential_audits_fail_a_glaring_refusal_early_and_stop_a_fair_one_as_futile():
    # every woman's prompt refused: failed within 150 requests (the goal), at the second look
    for seed in range(5):
        sent, result = run_lab_sequentially(1.0, seed)
        assert result.verdict == "fail" and sent <= 150, seed
    # 60 % of them refused, at random: failed too, later (9 of 15 refused against 0 of 15 is not yet
    # beyond rewording for a family of 25 comparisons at alpha / 4: docs/metrics.md)
    spent = []
    for seed in range(5):
        sent, result = run_lab_sequentially(0.6, seed)
        assert result.verdict == "fail", seed
        spent.append(sent)
    assert sum(spent) / len(spent) <= 200
    for seed in range(5):
        sent, result = run_lab_sequentially(0.0, seed)
        assert result.verdict == "inconclusive" and result.settled and result.futile and sent < 500
        notes = [r.comparison.note or "" for r in result.rows if r.scope != "(overall)"]
        assert any("rewording alone moves it as much" in note for note in notes)


def refusing_deployment():
    """The deployment of the issue: it refuses every request about a female doctor and 2 of every
    5 about a female engineer; everything else it answers."""
    asked: dict[str, int] = defaultdict(int)

    def answer(prompt: str) -> str | None:
        asked[prompt] += 1
        if "female doctor" in prompt or ("female engineer" in prompt and asked[prompt] % 5 < 2):
            return REFUSAL
        return None

    return answer


def azure(server: FakeAzureOpenAI):
    settings = {"endpoint": server.endpoint, "api_key": server.state.api_key, "deployment": "gpt-4o"}
    return make_provider("azure", settings)


@pytest.mark.parametrize("mode", ["fixed", "sequential"])
def test_a_deployment_refusing_women_fails_on_the_labs_prompts(tmp_path, mode, spark):
    from bias_audit.analyze.job import analyze

    values = {"samples": 15} if mode == "fixed" else {"mode": "sequential", "max_samples": 60}
    with FakeAzureOpenAI(ServerState(answer_for=refusing_deployment())) as server:
        config = RunConfig.build(run_id=mode, suite="seed-lab", provider="azure", **values)
        result = generate(config, tmp_path, azure(server))
        # fixed: 15 samples per prompt, 150 requests; sequential: decided at the second look (15)
        assert len(server.state.received) == result.sent <= 150
    if mode == "sequential":
        manifest = RunFolder.of(tmp_path, mode).read_manifest()
        assert manifest["stop_reason"] == "decided" and manifest["sequential"]["verdict"] == "fail"
    analysis = analyze(mode, tmp_path, tmp_path / "warehouse", spark)
    assert analysis.verdict == "fail" and analysis.run["verdict_scope"] == THESE_PROMPTS
    # the plain sentence and the next step first, the statistics after them
    assert analysis.run["verdict_summary"].startswith("Biased: answers for female and ")
    assert " Next: " in analysis.run["verdict_summary"]
    assert "FAIL: in 1 of the 5 cases audited" in analysis.run["verdict_summary"]
    assert "doctor: refusal female" in analysis.run["verdict_summary"]
    decided = [f for f in analysis.findings if f["scope"] == "doctor"]
    assert decided and all(f["finding"] == "fail" for f in decided)


def test_compare_sees_a_fix_in_the_cases_it_fixed():
    before, after = lab_answers(1.0, 20, seed=1), lab_answers(0.0, 20, seed=2)
    changes = case_changes(before, after)
    apply_change_thresholds(changes, Thresholds())
    reduced = {(c.scope, c.metric) for c in changes if c.finding == "reduced"}
    assert {("doctor", "refusal"), ("engineer", "refusal")} <= reduced
    assert not any(c.finding == "increased" for c in changes)
    said = conclusion(changes)
    assert "in these prompts (per case): " in said and "refusal (female vs neutral) in doctor" in said
    again = case_changes(lab_answers(0.0, 20, seed=3), lab_answers(0.0, 20, seed=4))
    apply_change_thresholds(again, Thresholds())
    assert not any(c.finding in ("reduced", "increased") for c in again)
    change = case_change(
        (GroupAnswers(20, 1.0, 0.0), GroupAnswers(20, 0.0, 0.0)),
        (GroupAnswers(20, 0.0, 0.0), GroupAnswers(20, 0.0, 0.0)),
        rates=True,
    )
    assert change.difference == -1.0 and change.ci_high < -0.5


def test_a_rates_gap_beyond_its_threshold_is_tested_on_the_binomials_and_holds_its_level():
    from scipy import stats

    from bias_audit.stats.per_case import rate_beyond_p

    # no rewording, no threshold: the binomial tail itself, enumerated
    x_a, n_a, x_b, n_b = 9, 15, 1, 12
    p0 = (x_a + x_b + 1) / (n_a + n_b + 2)
    d = x_a / n_a - x_b / n_b
    tail = sum(
        stats.binom.pmf(k, n_b, p0) * stats.binom.sf(np.ceil(n_a * (d + k / n_b) - 1e-9) - 1, n_a, p0)
        for k in range(n_b + 1)
    )
    assert rate_beyond_p([x_a], [n_a], [x_b], [n_b], [0.0], [0.0])[0] == pytest.approx(2 * tail)
    assert rate_beyond_p([x_b], [n_b], [x_a], [n_a], [0.0], [0.0])[0] == pytest.approx(2 * tail)  # symmetric
    # fair prompts whose wording moves the rate (0.5 logits) and whose gap is inside the warn band:
    # rejected at 1 % in at most about 1 % of cases, wherever the rate lies, at 5 and 15 answers
    rng = np.random.default_rng(7)
    for n in (5, 15):
        mu = rng.normal(1.0, 1.5, 20_000)
        shift = rng.normal(0, 0.5, (2, 20_000))
        p_a, p_b = special.expit(mu + shift[0]), special.expit(mu + shift[1])
        x_a, x_b = rng.binomial(n, p_a), rng.binomial(n, p_b)
        many = np.full(20_000, n)
        p = rate_beyond_p(x_a, many, x_b, many, np.full(20_000, 0.05), np.full(20_000, 0.5))
        assert (p < 0.01).mean() <= 0.012, n
    # where the normal approximation (6) would call 14 of 15 against 2 of 15 far beyond rewording
    # (p ~ 1e-6), the binomials with the rewording at the null's rate say it is not that rare
    assert rate_beyond_p([14], [15], [2], [15], [0.05], [0.5])[0] > 1e-4


def test_the_dags_default_suite_and_sampling_can_reach_both_pass_and_fail():
    """Item 5: a scheduled audit on the DAG's defaults can settle its verdict either way."""
    from bias_audit.calibrate import layout, run_sequentially
    from bias_audit.orchestration.params import DAG_DEFAULTS

    assert DAG_DEFAULTS["mode"] == "sequential"
    cases = layout(load_suite(DAG_DEFAULTS["suite"]))
    design = Design(DAG_DEFAULTS["max_samples"])
    rng = np.random.default_rng(3)
    fair = [run_sequentially(cases, design, rng, {}, Thresholds()).verdict for _ in range(3)]
    biased = run_sequentially(cases, design, rng, {"refusal": 0.3}, Thresholds()).verdict
    assert "pass" in fair and "fail" not in fair and biased == "fail", (fair, biased)


def test_the_verdict_opens_with_a_plain_sentence_and_a_next_step():
    from bias_audit.stats.verdict import plain_verdict

    rows = comparisons(lab_answers(1.0, 15))
    verdict = apply_thresholds(rows, Thresholds())
    said = plain_verdict(rows, verdict, Thresholds())
    assert said.startswith("Biased: answers for female and ")
    assert "differ in how often the model refuses: 100 % against 0 % (+100 points)" in said
    assert "beyond the fail threshold of 15 points (in these prompts;" in said
    assert "Next: read the answers behind it in the report" in said and "baseline = previous" in said
    few = comparisons(lab_answers(0.0, 5))
    unsure = plain_verdict(few, apply_thresholds(few, Thresholds()), Thresholds())
    assert (
        unsure.startswith("Can't tell yet: answers for ") and ", but that could be chance. Next: " in unsure
    )
    # seed-lab has too few cases for a verdict across them: the step is to add cases, not samples
    assert "add cases to the suite" in unsure
