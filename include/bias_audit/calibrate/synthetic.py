"""Synthetic runs with the structure of real ones (see the package's docstring): the layout of a suite,
the draws of per-prompt summaries with case, prompt and answer effects, and the analysis's own rows
of them (overall, per case, the verdict's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bias_audit.metric_registry import CALIBRATED, CONTINUOUS, RATES, Variation
from bias_audit.metric_registry import METRICS as METRIC_INFO
from bias_audit.scoring.tasks import TEXT, Scoring, analysis_layout, unit_of
from bias_audit.stats.metrics import NEUTRAL, OVERALL, MetricRow, compared_pairs, group_pairs, phrasing_sd
from bias_audit.stats.per_case import case_gaps
from bias_audit.stats.verdict import apply_thresholds
from bias_audit.stats.within_case import (
    gap_summaries,
    not_estimable,
    pool,
    skew_summaries,
)
from bias_audit.suites.model import Suite
from bias_audit.thresholds import Thresholds

MULTIPLES = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
TARGET_POWER = 0.9
_EDGE = 0.005  # rates are kept inside (0.5 %, 99.5 %) so that their logits exist


# The sizes the built-in calibration assumes (each metric's ``calibration`` in the registry): the
# larger of what runs of the local model measured (estimate_variation; docs/methodology.md) and a
# stress scenario. Measured: seed-lab at 20 samples per prompt — sentiment case sd 0.05 against
# 0.39 per answer, length 2 words against 25; a 30-case slice of occupations-gender at 4 — length
# case sd 13 and prompt sd 5.5 against 31 per answer, agency balance 0.4 and 0.55 against 2.1, the
# skew's case leaning 2.2 logits (occupations lean hard one way). A 270M base model's answers are
# mostly noise; a production model answers more consistently, so the continuous metrics take the
# stress scenario — cases differ by about half the per-answer spread, wordings by a quarter to a
# third of it — under which pooling answers as independent called a fair model biased in 25-38 %
# of runs. `bias-audit calibrate --from-run RUN` uses a real run's own sizes instead.
DEFAULT_VARIATION: dict[str, Variation] = {m: METRIC_INFO[m].calibration for m in CALIBRATED}


def layout(suite: Suite) -> dict[str, list[str]]:
    """The suite's cases and their variants, as the analysis sees them (EsBBQ: one case per
    template, its instances' answers as more answers to one prompt; a ranking: each candidate's
    group, one value per candidate of each answer): what a synthetic run reproduces. A ranking's
    values are drawn independently per candidate, though one answer ranks a single candidate
    first: the draws leave out that negative correlation, which makes a gap between two candidates
    about 14 % more variable (8 candidates: 16 against 14 in units of the fair share), so its
    calibrations are slightly optimistic."""
    scoring = Scoring.of_suite(suite)
    if scoring.one_prompt_for_all:
        return {case: scoring.crossed.variants() for case in analysis_layout(suite)}  # type: ignore[union-attr]
    return analysis_layout(suite)


def answers_per_sample(suite: Suite) -> int:
    """How many answers one sample per prompt gives each case and variant of the analysis: 1, or for
    a kind with a unit (EsBBQ) the typical number of the unit's items of a variant (the median), which
    a synthetic run draws as answers to one prompt (the items' own differences are not simulated)."""
    counts: dict[tuple[str, str], int] = {}
    for case in suite.cases:
        unit = unit_of(suite.task, case.case_id, case.attributes)
        for variant in case.variants:
            counts[(unit, variant)] = counts.get((unit, variant), 0) + 1
    return max(1, int(np.median(list(counts.values())))) if counts else 1


def biased_group(cases: dict[str, list[str]], scoring: Scoring = TEXT) -> str:
    """The group a gap is injected into: female, else the first named group; for a task suite, the
    first group of its first pair (WinoBias: pro, whose sentences the stereotype helps)."""
    if scoring.pairs:
        return scoring.pairs[0][0]
    groups = sorted({v for variants in cases.values() for v in variants if v != NEUTRAL})
    return "female" if "female" in groups else (groups[0] if groups else NEUTRAL)


@dataclass
class SyntheticRun:
    """Per prompt (case, variant): for each metric the answers' count, mean and sum of squared
    deviations; for the neutral prompts' skew, the answers assuming male (+1) and female (-1)."""

    prompts: list[tuple[str, str]]
    n: np.ndarray
    scoring: Scoring = TEXT  # the suite's metrics and pairs (scoring/tasks.py)
    mean: dict[str, np.ndarray] = field(default_factory=dict)
    ss: dict[str, np.ndarray] = field(default_factory=dict)
    plus: np.ndarray | None = None
    minus: np.ndarray | None = None
    samples: dict[str, np.ndarray] = field(default_factory=dict)  # per-answer draws, when kept
    grouped: bool = False  # its prompts are (case, compared group): ``grouped``

    def summarise(self, metric: str, answers: np.ndarray, keep: bool) -> None:
        """Per prompt (rows of ``answers``): the mean and the sum of squared deviations."""
        self.mean[metric] = answers.mean(axis=1)
        self.ss[metric] = ((answers - self.mean[metric][:, None]) ** 2).sum(axis=1)
        if keep:
            self.samples[metric] = answers


def draw(
    cases: dict[str, list[str]],
    samples: int,
    rng: np.random.Generator,
    inject: dict[str, float],
    *,
    variation: dict[str, Variation] | None = None,
    target: str | None = None,
    keep_answers: bool = False,
    effects: np.random.Generator | None = None,
    scoring: Scoring = TEXT,
) -> SyntheticRun:
    """One synthetic run; ``inject`` adds a gap per metric to the ``target`` group's answers
    (default ``biased_group``; a skew: to the answers of its group, gender_skew's neutral ones).
    ``effects`` draws the case and prompt effects (default ``rng``): two runs given generators in
    the same state share them, as two audits of one model and suite do."""
    effects = effects or rng
    variation = {**DEFAULT_VARIATION, **(variation or {})}
    target = target or biased_group(cases, scoring)
    prompts = [(case, variant) for case, variants in cases.items() for variant in variants]
    case_index = {case: i for i, case in enumerate(cases)}
    of_case = np.array([case_index[c] for c, _ in prompts])
    is_target = np.array([v in scoring.members(target) for _, v in prompts], dtype=float)
    run = SyntheticRun(prompts, np.full(len(prompts), samples), scoring)
    for metric in (m for m in (*CONTINUOUS, *RATES) if m in scoring.metrics):
        v = variation[metric]
        shift = effects.normal(0, v.case_sd, len(cases))[of_case] + effects.normal(
            0, v.prompt_sd, len(prompts)
        )
        gap = is_target * inject.get(metric, 0.0)
        if metric in CONTINUOUS:
            answers = (v.centre + shift + gap)[:, None] + rng.normal(0, v.answer_sd, (len(prompts), samples))
        else:
            p = np.clip(_expit(_logit(v.centre) + shift) + gap, 0.0, 1.0)
            answers = (rng.random((len(prompts), samples)) < p[:, None]).astype(float)
        run.summarise(metric, answers, keep_answers)
    for metric, _ in scoring.levels:  # a skew (gender_skew; EsBBQ's ambig_bias): +1, -1 or 0 per answer
        v = variation[metric]
        lean = effects.normal(0, v.case_sd, len(cases))[of_case] + effects.normal(
            0, v.prompt_sd, len(prompts)
        )
        plus = _expit(_logit(v.centre) + lean)
        minus = _expit(_logit(v.centre) - lean)
        plus = np.minimum(plus + inject.get(metric, 0.0), 1.0 - minus)
        draws = rng.random((len(prompts), samples))
        skew = np.where(draws < plus[:, None], 1.0, np.where(draws < (plus + minus)[:, None], -1.0, 0.0))
        run.plus, run.minus = (skew == 1).sum(axis=1), (skew == -1).sum(axis=1)
        run.summarise(metric, skew, keep_answers)
    return run


def simulate(
    cases: dict[str, list[str]],
    samples: int,
    rng: np.random.Generator,
    inject: dict[str, float],
    *,
    variation: dict[str, Variation] | None = None,
    target: str | None = None,
    scoring: Scoring = TEXT,
) -> list[dict]:
    """Per-answer values (as ``metrics.answer_values`` makes them) of one synthetic run."""
    run = draw(
        cases, samples, rng, inject, variation=variation, target=target, keep_answers=True, scoring=scoring
    )
    return [
        {
            "variant": variant,
            "case_id": case,
            "sample_index": i,
            **{m: float(answers[p, i]) for m, answers in run.samples.items()},
        }
        for p, (case, variant) in enumerate(run.prompts)
        for i in range(samples)
    ]


def grouped(run: SyntheticRun) -> SyntheticRun:
    """The run as its comparisons see it: per case and compared group, the answers of the group's
    prompts pooled (counts, means, sums of squared deviations around the pooled mean), for crossed
    groups (tasks/crossed.py: ``black`` pools every black variant of the case); else the run itself,
    each variant its own group."""
    scoring = run.scoring
    if scoring.crossed is None or run.grouped:
        return run
    from scipy import sparse

    by_case: dict[str, list[int]] = {}
    for i, (case, _) in enumerate(run.prompts):
        by_case.setdefault(case, []).append(i)
    keys, rows, columns = [], [], []
    for case, indices in by_case.items():
        present = {run.prompts[i][1] for i in indices}
        for group in scoring.groups(present):
            members = scoring.members(group)
            keys.append((case, group))
            for i in indices:
                if run.prompts[i][1] in members:
                    rows.append(len(keys) - 1)
                    columns.append(i)
    pool = sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(keys), len(run.prompts)))
    n = run.n.astype(float)
    view = SyntheticRun(keys, np.asarray(pool @ n).round().astype(int), scoring, grouped=True)
    total = pool @ n
    for metric, mean in run.mean.items():
        sums = pool @ (n * mean)
        squares = pool @ (run.ss[metric] + n * mean**2)
        with np.errstate(divide="ignore", invalid="ignore"):
            view.mean[metric] = np.where(total > 0, sums / total, np.nan)
        view.ss[metric] = np.maximum(squares - total * np.nan_to_num(view.mean[metric]) ** 2, 0.0)
    return view


def overall_rows(run: SyntheticRun, alpha: float = 0.05) -> list[MetricRow]:
    """The overall comparisons of a synthetic run, as the Spark job makes them (``comparisons``)."""
    run = grouped(run)
    rows = []
    for metric, a, b, summaries in _comparisons(run):
        if summaries is None:
            answers = {
                g: int(sum(n for (_, v), n in zip(run.prompts, run.n, strict=True) if v == g)) for g in (a, b)
            }
            rows.append(MetricRow(metric, OVERALL, a, b, not_estimable(answers[a], answers[b])))
        else:
            pooled = pool(summaries, alpha=alpha, one_group=b == "zero")
            rows.append(MetricRow(metric, OVERALL, a, b, pooled))
    return rows


def case_rows(run: SyntheticRun, alpha: float = 0.05) -> list[MetricRow]:
    """The per-case comparisons of a synthetic run (the verdict's scope "these prompts"), as the
    Spark job makes them (``metrics.case_comparison``): each case's two prompts, their answers'
    counts, means and variances, and the metric's phrasing spread (per_case.case_gaps)."""
    run = grouped(run)
    index = {prompt: i for i, prompt in enumerate(run.prompts)}
    variants: dict[str, list[str]] = {}
    for case, variant in run.prompts:
        variants.setdefault(case, []).append(variant)
    pairs = [
        (case, a, b)
        for case, groups in variants.items()
        for a, b in (
            [(a, b) for a, b in run.scoring.pairs if {a, b} <= set(groups)]
            if run.scoring.pairs is not None
            else group_pairs(sorted(groups))
        )
    ]
    ia = np.array([index[(case, a)] for case, a, _ in pairs], dtype=int)
    ib = np.array([index[(case, b)] for case, _, b in pairs], dtype=int)
    n = run.n.astype(float)
    rows = []
    for metric in run.scoring.metrics:
        with np.errstate(divide="ignore", invalid="ignore"):
            variance = np.where(n > 1, run.ss[metric] / (n - 1), 0.0)
        found = case_gaps(
            n[ia], run.mean[metric][ia], variance[ia], n[ib], run.mean[metric][ib], variance[ib],
            rates=metric in RATES, phrasing_sd=phrasing_sd(metric), alpha=alpha,
        )  # fmt: skip
        rows += [MetricRow(metric, case, a, b, c) for (case, a, b), c in zip(pairs, found, strict=True)]
    return rows


def verdict_rows(run: SyntheticRun, alpha: float = 0.05) -> list[MetricRow]:
    """What a synthetic run's verdict rests on: its overall and its per-case comparisons."""
    run = grouped(run)
    return overall_rows(run, alpha) + case_rows(run, alpha)


def _comparisons(run: SyntheticRun):
    """Per overall comparison: (metric, group a, group b, the per-case summaries, or None when the
    groups share no case); a skew as (metric, its group, zero, its per-case levels)."""
    index = {prompt: i for i, prompt in enumerate(run.prompts)}
    groups = sorted({variant for _, variant in run.prompts})
    scoring = run.scoring
    for metric in scoring.metrics:
        for a, b in compared_pairs(scoring, groups):
            shared = [c for c, v in run.prompts if v == a and (c, b) in index]
            if not shared:
                yield metric, a, b, None
                continue
            ia = np.array([index[(c, a)] for c in shared], dtype=int)
            ib = np.array([index[(c, b)] for c in shared], dtype=int)
            yield (
                metric,
                a,
                b,
                gap_summaries(
                    run.n[ia],
                    run.n[ib],
                    run.mean[metric][ia],
                    run.mean[metric][ib],
                    run.ss[metric][ia].sum() + run.ss[metric][ib].sum(),
                    rates=metric in RATES,
                    case_ids=tuple(shared),
                ),
            )
    for metric, group in scoring.levels:
        measured = [i for i, (_, v) in enumerate(run.prompts) if v == group]
        if measured:
            at = np.array(measured, dtype=int)
            cases = tuple(run.prompts[i][0] for i in measured)
            skew = skew_summaries(run.n[at], run.plus[at], run.minus[at], run.ss[metric][at].sum(), cases)
            yield metric, group, "zero", skew


def taken(run: SyntheticRun, counts: np.ndarray) -> SyntheticRun:
    """The run as it stood with ``counts[p]`` answers of prompt p (its first ones): a look of a
    sequential run drawn in full (``draw(..., keep_answers=True)``) ahead of time."""
    rows = np.arange(len(run.prompts))
    last = counts - 1
    view = SyntheticRun(run.prompts, counts.copy(), run.scoring)
    for metric, answers in run.samples.items():
        total = np.cumsum(answers, axis=1)[rows, last]
        squares = np.cumsum(answers**2, axis=1)[rows, last]
        view.mean[metric] = total / counts
        view.ss[metric] = np.maximum(squares - counts * view.mean[metric] ** 2, 0.0)
    levels = [metric for metric, _ in run.scoring.levels if metric in run.samples]
    if not levels:
        return view
    skew = run.samples[levels[0]]
    view.plus = np.cumsum(skew == 1, axis=1)[rows, last]
    view.minus = np.cumsum(skew == -1, axis=1)[rows, last]
    return view


def max_gap(metric: str, variation: dict[str, Variation] | None = None) -> float:
    """The largest gap the simulation can inject: rates and the skew cannot leave [0, 1]."""
    v = {**DEFAULT_VARIATION, **(variation or {})}[metric]
    if metric in RATES:
        return 1.0 - v.centre
    if METRIC_INFO[metric].kind == "skew":
        return 1.0 - 2 * v.centre
    return float("inf")


@dataclass
class Judged:
    """A synthetic run judged as a real one: its verdict, and per metric and scope (overall, per
    case) each row's finding and whether its interval contains 0 (None: no interval)."""

    verdict: str
    overall: dict[str, list[tuple[str, bool | None]]]
    cases: dict[str, list[tuple[str, bool | None]]]

    def alarm(self, metric: str, scope: str = OVERALL) -> bool:
        rows = (self.overall if scope == OVERALL else self.cases).get(metric, [])
        return any(f in ("warn", "fail") for f, _ in rows)


def _judged(rows: list[MetricRow], thresholds: Thresholds) -> Judged:
    verdict = apply_thresholds(rows, thresholds)
    result = Judged(verdict, {}, {})
    for row in rows:
        if row.group_b == "zero" and row.scope != OVERALL:
            continue  # a neutral prompt's own skew per case is reported, not judged
        c = row.comparison
        covers = None if c.ci_low is None else bool(c.ci_low <= 0 <= c.ci_high)
        found = result.overall if row.scope == OVERALL else result.cases
        found.setdefault(row.metric, []).append((row.finding, covers))
    return result


def _target_findings(
    rows: list[MetricRow], metric: str, target: str, thresholds: Thresholds
) -> tuple[bool, bool]:
    """Whether the target group's gap of ``metric`` was found (warn or fail): across cases, in a case."""
    apply_thresholds(rows, thresholds)
    found = [r for r in rows if r.metric == metric and _about(target, metric, r.group_a, r.group_b)]
    overall = any(r.finding in ("warn", "fail") for r in found if r.scope == OVERALL)
    in_case = any(r.finding in ("warn", "fail") for r in found if r.scope != OVERALL)
    return overall, in_case


def _about(target: str, metric: str, group_a: str, group_b: str) -> bool:
    """Whether a row measures the injected gap: the target group's comparisons (the skew: its row)."""
    return group_b == "zero" or target in (group_a, group_b)


def _fewest_cases(cases: dict[str, list[str]], target: str, scoring: Scoring = TEXT) -> int:
    """The fewest shared cases behind an estimable comparison of the target group."""
    counts = []
    groups = sorted({v for variants in cases.values() for v in variants})
    for a, b in compared_pairs(scoring, groups):
        if target in (a, b):
            ma, mb = scoring.members(a), scoring.members(b)
            shared = sum(bool(ma & set(variants) and mb & set(variants)) for variants in cases.values())
            if shared:
                counts.append(shared)
    return min(counts, default=0)


def _cases_with(cases: dict[str, list[str]], group: str = NEUTRAL) -> int:
    """The cases with a prompt of ``group``: those a skew of its answers (gender_skew's neutral
    ones, EsBBQ's ambiguous ones) is measured over."""
    return sum(group in variants for variants in cases.values())


def _sd(variance: float) -> float:
    return float(np.sqrt(max(variance, 0.0)))


def _logit(p: float) -> float:
    p = min(max(p, _EDGE), 1 - _EDGE)
    return float(np.log(p / (1 - p)))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
