"""How far the verdict can be trusted: false alarms and detection power on synthetic runs that have
the structure of real ones.

A synthetic run has the layout of a real one (the suite's cases and variants, ``samples`` answers
per prompt). Each metric's answers vary as real answers do (``Variation``): every case shifts all
its prompts (a doctor's description is longer than a chef's), every prompt's wording shifts its
own answers, and every answer has its own noise.

    continuous:   y = centre + u_case + w_prompt + gap [group is the target] + e,
                  u ~ N(0, case_sd^2), w ~ N(0, prompt_sd^2), e ~ N(0, answer_sd^2)
    rates (0/1):  P(1) = expit(logit(centre) + u_case + w_prompt) + gap [target]  (u, w in logits)
    gender_skew:  neutral answers assume male with expit(logit(centre) + z_case + gap') and female
                  with expit(logit(centre) - z_case): cases lean either way (a nurse, an engineer);
                  the injected gap moves the male share so that the skew rises by ``gap``.

The sizes come from real runs (``estimate_variation``: method-of-moments variance components of
the answers of one run, ``bias-audit calibrate --from-run RUN``); the defaults are each metric's
``calibration`` in the metric registry (see ``DEFAULT_VARIATION``).

For each metric:
- *false-alarm rate*: the share of unbiased runs (no gender effect at all, but case and prompt
  effects) in which an overall comparison of the metric says warn or fail;
- *power*: the share of runs with a gap of the metric's *fail threshold* injected into the target
  group's answers (``female``, else the first named group; for ``gender_skew``, into the neutral
  answers' skew) in which it says warn or fail;
- *detectable gap*: the smallest injected gap (a multiple of the fail threshold, from
  ``MULTIPLES``) found with at least ``TARGET_POWER`` power. None when even the largest is missed.

The analysis is the Spark job's own: the overall comparisons are pooled over cases by
``within_case.pool`` and judged by ``verdict.apply_thresholds``; only the answers are made up. The answers are
drawn as per-prompt summaries (counts, means, sums of squares) so that a thousand runs of a
720-prompt suite take seconds; ``simulate`` gives the same draws as per-answer values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from bias_audit.metric_registry import CALIBRATED, CONTINUOUS, RATES, Variation, calibrated
from bias_audit.metric_registry import METRICS as METRIC_INFO
from bias_audit.scoring.tasks import TEXT, Scoring
from bias_audit.stats.metrics import NEUTRAL, OVERALL, MetricRow, compared_pairs, group_pairs, phrasing_sd
from bias_audit.stats.per_case import case_gaps
from bias_audit.stats.sequential import Design, Look, Tracker, needed_prompts
from bias_audit.stats.verdict import apply_thresholds
from bias_audit.stats.within_case import (
    gap_summaries,
    not_estimable,
    paired_change,
    pool,
    pooled_within_variance,
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


@dataclass(frozen=True)
class Calibration:
    metric: str
    samples: int
    runs: int
    fail_threshold: float
    false_alarm_rate: float
    power_at_fail: float
    detectable_gap: float | None  # smallest gap found with TARGET_POWER, in the metric's units
    unbiased_pass_rate: float  # how often the comparison can pass at all on unbiased answers
    largest_tested: float  # the largest gap injected while looking for the detectable one
    target: str = "female"  # the group the gap was injected into
    cases: int = 0  # the fewest cases behind an overall comparison of the target group
    coverage: float | None = None  # unbiased runs: share of 95 % intervals that contain 0
    # the verdict's other scope, "these prompts" (per-case rows), in the same runs:
    case_false_alarm_rate: float = 0.0  # unbiased runs in which a per-case row of the metric warned
    case_power_at_fail: float = 0.0  # runs with the gap in which a per-case row of the target found it
    case_coverage: float | None = None  # unbiased runs: per-case 95 % intervals that contain 0
    verdict_false_alarm_rate: float = 0.0  # unbiased runs whose whole verdict (both scopes) warned or failed

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def layout(suite: Suite) -> dict[str, list[str]]:
    """The suite's cases and their variants: what a synthetic run reproduces."""
    return {case.case_id: list(case.variants) for case in suite.cases}


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
    (default ``biased_group``; ``gender_skew``: to the neutral answers). ``effects`` draws the case
    and prompt effects (default ``rng``): two runs given generators in the same state share them,
    as two audits of one model and suite do."""
    effects = effects or rng
    variation = {**DEFAULT_VARIATION, **(variation or {})}
    target = target or biased_group(cases, scoring)
    prompts = [(case, variant) for case, variants in cases.items() for variant in variants]
    case_index = {case: i for i, case in enumerate(cases)}
    of_case = np.array([case_index[c] for c, _ in prompts])
    is_target = np.array([v == target for _, v in prompts], dtype=float)
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
    if not scoring.words:
        return run
    v = variation["gender_skew"]
    lean = effects.normal(0, v.case_sd, len(cases))[of_case] + effects.normal(0, v.prompt_sd, len(prompts))
    male = _expit(_logit(v.centre) + lean)
    female = _expit(_logit(v.centre) - lean)
    male = np.minimum(male + inject.get("gender_skew", 0.0), 1.0 - female)
    draws = rng.random((len(prompts), samples))
    skew = np.where(draws < male[:, None], 1.0, np.where(draws < (male + female)[:, None], -1.0, 0.0))
    run.plus, run.minus = (skew == 1).sum(axis=1), (skew == -1).sum(axis=1)
    run.summarise("gender_skew", skew, keep_answers)
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


def overall_rows(run: SyntheticRun, alpha: float = 0.05) -> list[MetricRow]:
    """The overall comparisons of a synthetic run, as the Spark job makes them (``comparisons``)."""
    rows = []
    for metric, a, b, summaries in _comparisons(run):
        if summaries is None:
            answers = {
                g: int(sum(n for (_, v), n in zip(run.prompts, run.n, strict=True) if v == g)) for g in (a, b)
            }
            rows.append(MetricRow(metric, OVERALL, a, b, not_estimable(answers[a], answers[b])))
        else:
            pooled = pool(summaries, alpha=alpha, one_group=metric == "gender_skew")
            rows.append(MetricRow(metric, OVERALL, a, b, pooled))
    return rows


def case_rows(run: SyntheticRun, alpha: float = 0.05) -> list[MetricRow]:
    """The per-case comparisons of a synthetic run (the verdict's scope "these prompts"), as the
    Spark job makes them (``metrics.case_comparison``): each case's two prompts, their answers'
    counts, means and variances, and the metric's phrasing spread (per_case.case_gaps)."""
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
    return overall_rows(run, alpha) + case_rows(run, alpha)


def _comparisons(run: SyntheticRun):
    """Per overall comparison: (metric, group a, group b, the per-case summaries, or None when the
    groups share no case); the skew as (gender_skew, neutral, zero, its per-case levels)."""
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
    neutral = [i for i, (_, v) in enumerate(run.prompts) if v == NEUTRAL]
    if neutral and scoring.words:
        at = np.array(neutral, dtype=int)
        cases = tuple(run.prompts[i][0] for i in neutral)
        skew = skew_summaries(run.n[at], run.plus[at], run.minus[at], run.ss["gender_skew"][at].sum(), cases)
        yield "gender_skew", NEUTRAL, "zero", skew


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
    if "gender_skew" not in run.samples:
        return view
    skew = run.samples["gender_skew"]
    view.plus = np.cumsum(skew == 1, axis=1)[rows, last]
    view.minus = np.cumsum(skew == -1, axis=1)[rows, last]
    return view


@dataclass(frozen=True)
class SequentialRun:
    """How one synthetic sequential run ended."""

    verdict: str
    reason: str
    rounds: int
    requests: int
    rows: list[MetricRow]
    looks: list[Look]  # every comparison at every look (sequential.Look)


def run_sequentially(
    cases: dict[str, list[str]],
    design: Design,
    rng: np.random.Generator,
    inject: dict[str, float],
    thresholds: Thresholds,
    *,
    variation: dict[str, Variation] | None = None,
    target: str | None = None,
    scoring: Scoring = TEXT,
) -> SequentialRun:
    """One synthetic audit run as the generate stage runs a sequential one: rounds of samples,
    only for the prompts of undecided comparisons, a look after each, stop once settled."""
    run = draw(
        cases,
        design.max_samples,
        rng,
        inject,
        variation=variation,
        target=target,
        keep_answers=True,
        scoring=scoring,
    )
    tracker = Tracker(design, thresholds)
    counts = np.zeros(len(run.prompts), dtype=int)
    wanted = np.ones(len(run.prompts), dtype=bool)
    requests, reason = 0, "max_samples"
    for samples in design.looks:
        requests += int((samples - counts[wanted]).sum())
        counts[wanted] = samples
        result = tracker.update(verdict_rows(taken(run, counts), design.alpha_per_look))
        if result.settled:
            reason = "futile" if result.verdict == "inconclusive" and result.futile else "decided"
            break
        needed = needed_prompts(result.undecided, cases)
        wanted = np.array([prompt in needed for prompt in run.prompts])
    # the overall rows, and of the per-case ones those that decided something (all that calibrate
    # counts: materialising thousands of open per-case rows per run would cost more than the run)
    decided = [r for r in result.cases.materialised(decided_only=True)] if result.cases else []
    return SequentialRun(
        result.verdict, reason, tracker.look, requests, result.overall + decided, result.looks
    )


def sequence_coverage(runs: list[SequentialRun], metric: str, *, repeated: bool = False) -> float | None:
    """Unbiased runs: the share of comparisons of ``metric`` whose interval contained the true gap
    (0) at every look the run made. ``repeated``: each look's own interval instead of the running
    intersection (with ``alpha_per_look`` = 0.05: repeated 95 % intervals, the invalid way)."""
    covered: dict[tuple[int, str, str], bool] = {}
    for index, run in enumerate(runs):
        for look in run.looks:
            low, high = (look.ci_low, look.ci_high) if repeated else (look.seq_low, look.seq_high)
            if look.metric != metric or low is None:
                continue
            key = (index, look.group_a, look.group_b)
            covered[key] = covered.get(key, True) and low <= 0 <= high
    return sum(covered.values()) / len(covered) if covered else None


@dataclass(frozen=True)
class SequentialCalibration:
    """How far a sequential audit can be trusted, and what it costs, for one metric."""

    metric: str
    max_samples: int
    runs: int
    fail_threshold: float
    false_alarm_rate: float  # unbiased runs in which a comparison of the metric said warn or fail
    power_at_fail: float  # runs with a gap of the fail threshold in which it was found
    requests_unbiased_mean: float  # requests until the unbiased runs stopped
    requests_unbiased_p90: float
    requests_biased_mean: float  # requests until the runs with the gap stopped
    requests_biased_p90: float
    samples_biased_p90: int  # samples per prompt at which 90 % of the biased runs had stopped
    fixed_requests: int  # the fixed design at max_samples: every prompt, max_samples times
    coverage: float | None = None  # unbiased runs: intervals containing 0 at every look at once

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def calibrate_sequential(
    suite: Suite,
    max_samples: int,
    *,
    runs: int = 100,
    thresholds: Thresholds | None = None,
    metrics: tuple[str, ...] | None = None,
    variation: dict[str, Variation] | None = None,
    target: str | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    looks: tuple[int, ...] | None = None,
) -> list[SequentialCalibration]:
    """Sequential audits (sequential.py) of synthetic runs: unbiased ones, judged as a whole, and
    for each metric runs with a gap of its fail threshold injected; false alarms under monitoring
    after every round, power, and the requests spent until the run stopped. The looks: ``looks``,
    else the suite's (``sequential.looks``), else the default schedule."""
    thresholds = thresholds or Thresholds()
    cases, scoring = layout(suite), Scoring.of(suite.task)
    target = target or biased_group(cases, scoring)
    design = Design(max_samples, schedule=looks or suite_schedule(suite))
    fixed = sum(len(v) for v in cases.values()) * max_samples
    rng = np.random.default_rng([seed, max_samples, 11])
    null = [
        run_sequentially(cases, design, rng, {}, thresholds, variation=variation, scoring=scoring)
        for _ in range(runs)
    ]
    null_requests = np.array([r.requests for r in null])
    results = []
    for index, metric in enumerate(metrics or calibrated(scoring.task)):
        metric_rng = np.random.default_rng([seed, max_samples, 11, index])
        false = sum(
            any(r.metric == metric and r.finding in ("warn", "fail") for r in run.rows) for run in null
        )
        fail = thresholds.fail[metric]
        biased = [
            run_sequentially(
                cases,
                design,
                metric_rng,
                {metric: fail},
                thresholds,
                variation=variation,
                target=target,
                scoring=scoring,
            )
            for _ in range(runs)
        ]
        found = sum(
            any(
                r.metric == metric
                and r.finding in ("warn", "fail")
                and _about(target, metric, r.group_a, r.group_b)
                for r in run.rows
            )
            for run in biased
        )
        biased_requests = np.array([r.requests for r in biased])
        stopped_at = np.array([design.looks[r.rounds - 1] for r in biased])
        result = SequentialCalibration(
            metric=metric,
            max_samples=max_samples,
            runs=runs,
            fail_threshold=fail,
            false_alarm_rate=false / runs,
            power_at_fail=found / runs,
            requests_unbiased_mean=float(null_requests.mean()),
            requests_unbiased_p90=float(np.quantile(null_requests, 0.9)),
            requests_biased_mean=float(biased_requests.mean()),
            requests_biased_p90=float(np.quantile(biased_requests, 0.9)),
            samples_biased_p90=int(np.quantile(stopped_at, 0.9, method="higher")),
            fixed_requests=fixed,
            coverage=sequence_coverage(null, metric),
        )
        if progress:
            progress(format_sequential_row(result))
        results.append(result)
    return results


SEQUENTIAL_HEADER = (
    f"{'max':>4}  {'metric':<15}{'fail at':>8}{'false alarms':>14}{'coverage':>10}{'power':>8}"
    f"{'requests: unbiased':>20}{'(p90)':>8}{'biased':>9}{'(p90)':>8}{'biased stop (p90)':>19}{'fixed':>8}"
)


def suite_schedule(suite: Suite) -> tuple[int, ...] | None:
    """The looks a suite file sets for its sequential audits, if it does."""
    return tuple(suite.sequential.looks) if suite.sequential else None


def format_sequential_row(c: SequentialCalibration) -> str:
    return (
        f"{c.max_samples:>4}  {c.metric:<15}{c.fail_threshold:>8g}{c.false_alarm_rate:>14.1%}"
        f"{'no CI' if c.coverage is None else format(c.coverage, '.1%'):>10}{c.power_at_fail:>8.1%}"
        f"{c.requests_unbiased_mean:>20,.0f}{c.requests_unbiased_p90:>8,.0f}{c.requests_biased_mean:>9,.0f}"
        f"{c.requests_biased_p90:>8,.0f}{c.samples_biased_p90:>13} samples{c.fixed_requests:>8,}"
    )


def change_rows(before: SyntheticRun, after: SyntheticRun) -> list:
    """The rows of ``bias-audit compare`` (compare.py) for two synthetic runs of one layout."""
    from bias_audit.stats.change import Change

    changes = []
    for (metric, a, b, s_before), (*_, s_after) in zip(
        _comparisons(before), _comparisons(after), strict=True
    ):
        change = paired_change(s_before, s_after) if s_before and s_after else None
        if change is not None:
            gaps = [float((s.mean_a - s.mean_b).mean()) for s in (s_before, s_after)]
            changes.append(Change(metric, a, b, gaps[0], gaps[1], change))
    return changes


def max_gap(metric: str, variation: dict[str, Variation] | None = None) -> float:
    """The largest gap the simulation can inject: rates and the skew cannot leave [0, 1]."""
    v = {**DEFAULT_VARIATION, **(variation or {})}[metric]
    if metric in RATES:
        return 1.0 - v.centre
    if metric == "gender_skew":
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
    return metric == "gender_skew" or target in (group_a, group_b)


def calibrate(
    suite: Suite,
    samples: int,
    *,
    runs: int = 100,
    thresholds: Thresholds | None = None,
    metrics: tuple[str, ...] | None = None,
    variation: dict[str, Variation] | None = None,
    target: str | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[Calibration]:
    thresholds = thresholds or Thresholds()
    cases, scoring = layout(suite), Scoring.of(suite.task)
    target = target or biased_group(cases, scoring)
    rng = np.random.default_rng([seed, samples])
    # One set of unbiased runs serves every metric: each run is judged as a whole, as a real one is.
    null = [
        _judged(verdict_rows(draw(cases, samples, rng, {}, variation=variation, scoring=scoring)), thresholds)
        for _ in range(runs)
    ]
    verdict_alarms = sum(run.verdict in ("warn", "fail") for run in null) / runs
    fewest_cases = _fewest_cases(cases, target, scoring)
    results = []
    for index, metric in enumerate(metrics or calibrated(scoring.task)):
        metric_rng = np.random.default_rng([seed, samples, index])
        false_alarms = sum(run.alarm(metric) for run in null)
        passes = sum(
            bool(run.overall.get(metric)) and all(f == "pass" for f, _ in run.overall[metric]) for run in null
        )
        intervals = [
            covers for run in null for _, covers in run.overall.get(metric, []) if covers is not None
        ]
        in_cases = [covers for run in null for _, covers in run.cases.get(metric, []) if covers is not None]
        fail = thresholds.fail[metric]
        power: dict[float, float] = {}
        case_power = 0.0
        for multiple in MULTIPLES:
            if multiple > 1.0 and fail * multiple > max_gap(metric, variation):
                break
            inject = {metric: fail * multiple}
            detected = detected_in_case = 0
            for _ in range(runs):
                run = draw(
                    cases, samples, metric_rng, inject, variation=variation, target=target, scoring=scoring
                )
                overall, in_case = _target_findings(verdict_rows(run), metric, target, thresholds)
                detected += overall
                detected_in_case += in_case
            power[multiple] = detected / runs
            if multiple == 1.0:
                case_power = detected_in_case / runs
            if multiple >= 1.0 and power[multiple] >= TARGET_POWER:
                break
        detectable = next((m * fail for m in MULTIPLES if power.get(m, 0.0) >= TARGET_POWER), None)
        result = Calibration(
            metric=metric,
            samples=samples,
            runs=runs,
            fail_threshold=fail,
            false_alarm_rate=false_alarms / runs,
            power_at_fail=power.get(1.0, 0.0),
            detectable_gap=detectable,
            largest_tested=max(power) * fail,
            unbiased_pass_rate=passes / runs,
            target=NEUTRAL if metric == "gender_skew" else target,
            cases=_neutral_cases(cases) if metric == "gender_skew" else fewest_cases,
            coverage=sum(intervals) / len(intervals) if intervals else None,
            case_false_alarm_rate=sum(run.alarm(metric, "case") for run in null) / runs,
            case_power_at_fail=case_power,
            case_coverage=sum(in_cases) / len(in_cases) if in_cases else None,
            verdict_false_alarm_rate=verdict_alarms,
        )
        if progress:
            progress(format_row(result))
        results.append(result)
    return results


SAMPLE_GRID = (1, 2, 3, 5, 10, 20, 50)


@dataclass(frozen=True)
class SampleSize:
    """The fewest samples per prompt (of ``SAMPLE_GRID``) at which a metric's gap of its fail
    threshold is found (warn or fail) with ``TARGET_POWER``; None: not within the grid."""

    metric: str
    fail_threshold: float
    samples: int | None
    false_alarm_rate: float  # at ``samples`` (else at the largest tried)
    power_at_fail: float
    cases: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def samples_needed(
    suite: Suite,
    *,
    runs: int = 100,
    thresholds: Thresholds | None = None,
    metrics: tuple[str, ...] | None = None,
    variation: dict[str, Variation] | None = None,
    target: str | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[SampleSize]:
    """``calibrate`` at growing samples per prompt (one call per size: its unbiased runs serve
    every metric) until each metric's gap of the fail threshold is found with ``TARGET_POWER``
    (``bias-audit calibrate --samples-needed``)."""
    pending = list(metrics or calibrated(Scoring.of(suite.task).task))
    found: dict[str, SampleSize] = {}
    for samples in SAMPLE_GRID:
        for c in calibrate(
            suite, samples, runs=runs, thresholds=thresholds, metrics=tuple(pending),
            variation=variation, target=target, seed=seed,
        ):  # fmt: skip
            enough = c.power_at_fail >= TARGET_POWER
            if enough or samples == SAMPLE_GRID[-1]:
                found[c.metric] = SampleSize(
                    c.metric, c.fail_threshold, samples if enough else None,
                    c.false_alarm_rate, c.power_at_fail, c.cases,
                )  # fmt: skip
                if progress:
                    progress(format_sample_size(found[c.metric]))
        pending = [m for m in pending if m not in found]
        if not pending:
            break
    return [found[m] for m in metrics or calibrated(Scoring.of(suite.task).task)]


SAMPLE_SIZE_HEADER = (
    f"{'metric':<15}{'cases':>6}{'fail at':>8}{'samples for 90 % power':>24}{'power':>8}{'false alarms':>14}"
)


def format_sample_size(s: SampleSize) -> str:
    samples = f"> {SAMPLE_GRID[-1]}" if s.samples is None else str(s.samples)
    return (
        f"{s.metric:<15}{s.cases:>6}{s.fail_threshold:>8g}{samples:>24}{s.power_at_fail:>8.1%}"
        f"{s.false_alarm_rate:>14.1%}"
    )


@dataclass(frozen=True)
class CompareCalibration:
    """How far ``bias-audit compare`` can be trusted, for one metric at one sample size."""

    metric: str
    samples: int
    runs: int
    fail_threshold: float
    false_finding_rate: float  # nothing changed, yet a row of the metric said reduced or increased
    unchanged_rate: float  # nothing changed, and every row of the metric said unchanged
    power_reduction: float  # the baseline had a gap of the fail threshold, the candidate none

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def calibrate_compare(
    suite: Suite,
    samples: int,
    *,
    runs: int = 100,
    thresholds: Thresholds | None = None,
    metrics: tuple[str, ...] | None = None,
    variation: dict[str, Variation] | None = None,
    target: str | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[CompareCalibration]:
    """Pairs of synthetic audits of one model (the same case and prompt effects, new answers):
    unchanged, and with a baseline gap of the fail threshold that the candidate no longer has (a
    mitigation that worked), judged as ``bias-audit compare`` judges them."""
    from bias_audit.stats.change import apply_change_thresholds

    thresholds = thresholds or Thresholds()
    cases, scoring = layout(suite), Scoring.of(suite.task)
    target = target or biased_group(cases, scoring)

    def pair(rng: np.random.Generator, inject: dict[str, float]) -> list:
        effects = rng.integers(2**32)
        before = draw(
            cases,
            samples,
            rng,
            inject,
            variation=variation,
            target=target,
            effects=np.random.default_rng(effects),
            scoring=scoring,
        )
        after = draw(
            cases,
            samples,
            rng,
            {},
            variation=variation,
            target=target,
            effects=np.random.default_rng(effects),
            scoring=scoring,
        )
        changes = change_rows(before, after)
        apply_change_thresholds(changes, thresholds)
        return changes

    rng = np.random.default_rng([seed, samples, 7])
    null = [pair(rng, {}) for _ in range(runs)]
    results = []
    for metric in metrics or calibrated(scoring.task):
        mine = [[c for c in changes if c.metric == metric] for changes in null]
        false = sum(any(c.finding in ("reduced", "increased") for c in rows) for rows in mine)
        unchanged = sum(bool(rows) and all(c.finding == "unchanged" for c in rows) for rows in mine)
        fail = thresholds.fail[metric]
        detected = 0
        for _ in range(runs):
            rows = [c for c in pair(rng, {metric: fail}) if c.metric == metric]
            detected += any(
                c.finding == "reduced" and _about(target, metric, c.group_a, c.group_b) for c in rows
            )
        result = CompareCalibration(
            metric, samples, runs, fail, false / runs, unchanged / runs, detected / runs
        )
        if progress:
            progress(
                f"{samples:>7}  {metric:<15}{fail:>8g}{result.false_finding_rate:>16.1%}"
                f"{result.unchanged_rate:>12.1%}{result.power_reduction:>10.1%}"
            )
        results.append(result)
    return results


COMPARE_HEADER = (
    f"{'samples':>7}  {'metric':<15}{'fail at':>8}{'false findings':>16}{'unchanged':>12}{'power':>10}"
)


def _fewest_cases(cases: dict[str, list[str]], target: str, scoring: Scoring = TEXT) -> int:
    """The fewest shared cases behind an estimable comparison of the target group."""
    counts = []
    groups = sorted({v for variants in cases.values() for v in variants})
    for a, b in compared_pairs(scoring, groups):
        if target in (a, b):
            shared = sum(a in variants and b in variants for variants in cases.values())
            if shared:
                counts.append(shared)
    return min(counts, default=0)


def _neutral_cases(cases: dict[str, list[str]]) -> int:
    return sum(NEUTRAL in variants for variants in cases.values())


def estimate_variation(values: list[dict], metrics: tuple[str, ...] = CALIBRATED) -> dict[str, Variation]:
    """Variance components of one run's answers (``metrics.answer_values`` rows), per metric, by the
    method of moments for a nested design (Searle, Casella & McCulloch 1992, *Variance Components*,
    §3.6; written here because statsmodels' MixedLM fits these models by REML with convergence
    failures on the few cases of small suites, where the moment estimators are closed-form):

        (1) answer variance   s^2  = within-prompt variance pooled over prompts
        (2) prompt variance   t_p^2 = mean over cases of var(prompt means of the case) - s^2 mean(1/n)
        (3) case variance     t_c^2 = var(case means) - mean over cases of (t_p^2 + s^2 mean(1/n)) / V_c
    each truncated at 0 (V_c: the case's variants). A real gender effect counts as prompt variation
    in (2), which makes the calibration conservative. Rates and the skew are converted to logits by
    the delta method (sd / (p (1 - p)); the skew's leaning moves p(male) - p(female) by 2 p (1 - p)
    per logit); the skew's case and prompt effects cannot be told apart (one neutral prompt per
    case) and are reported together as ``case_sd``."""
    result = {}
    for metric in metrics:
        prompts: dict[tuple[str, str], list[float]] = {}
        for value in values:
            if value.get(metric) is None or (metric == "gender_skew" and value["variant"] != NEUTRAL):
                continue
            prompts.setdefault((value["case_id"], value["variant"]), []).append(float(value[metric]))
        if not prompts:
            continue
        result[metric] = _components(metric, prompts)
    return result


def _components(metric: str, prompts: dict[tuple[str, str], list[float]]) -> Variation:
    arrays = {key: np.asarray(x) for key, x in prompts.items()}
    everything = np.concatenate(list(arrays.values()))
    answer_var = pooled_within_variance(
        sum(((x - x.mean()) ** 2).sum() for x in arrays.values()), sum(len(x) - 1 for x in arrays.values())
    )
    answer_var = answer_var or 0.0  # (1)
    by_case: dict[str, list[np.ndarray]] = {}
    for (case, _), x in arrays.items():
        by_case.setdefault(case, []).append(x)
    noise = [answer_var * np.mean([1 / len(x) for x in xs]) for xs in by_case.values()]
    multi = [(xs, n) for xs, n in zip(by_case.values(), noise, strict=True) if len(xs) > 1]
    prompt_var = 0.0
    if multi:  # (2)
        prompt_var = max(0.0, float(np.mean([np.var([x.mean() for x in xs], ddof=1) - n for xs, n in multi])))
    case_means = [np.mean([x.mean() for x in xs]) for xs in by_case.values()]
    case_var = 0.0
    if len(case_means) > 1:  # (3)
        expected = np.mean(
            [(prompt_var + n) / len(xs) for xs, n in zip(by_case.values(), noise, strict=True)]
        )
        case_var = max(0.0, float(np.var(case_means, ddof=1) - expected))
    if metric in CONTINUOUS:
        return Variation(float(everything.mean()), float(np.sqrt(answer_var)), _sd(case_var), _sd(prompt_var))
    if metric in RATES:
        p = float(np.clip(everything.mean(), _EDGE, 1 - _EDGE))
        slope = p * (1 - p)
        return Variation(p, 0.0, _sd(case_var) / slope, _sd(prompt_var) / slope)
    share = float(np.clip((np.mean(everything == 1) + np.mean(everything == -1)) / 2, _EDGE, 0.5 - _EDGE))
    slope = 2 * share * (1 - share)
    return Variation(share, 0.0, _sd(case_var + prompt_var) / slope, 0.0)


def format_variation(variation: dict[str, Variation]) -> str:
    lines = [
        f"{'metric':<15}{'centre':>9}{'answer sd':>11}{'case sd':>9}{'prompt sd':>11}  (rates, skew: logits)"
    ]
    for metric, v in variation.items():
        lines.append(f"{metric:<15}{v.centre:>9.3g}{v.answer_sd:>11.3g}{v.case_sd:>9.3g}{v.prompt_sd:>11.3g}")
    return "\n".join(lines)


def _sd(variance: float) -> float:
    return float(np.sqrt(max(variance, 0.0)))


def _logit(p: float) -> float:
    p = min(max(p, _EDGE), 1 - _EDGE)
    return float(np.log(p / (1 - p)))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


HEADER = (
    f"{'':>7}  {'':<15}{'':>6}{'':>8}{'across cases (beyond them)':^48}{'in a case (these prompts)':^32}\n"
    f"{'samples':>7}  {'metric':<15}{'cases':>6}{'fail at':>8}{'false alarms':>14}{'coverage':>10}"
    f"{'power':>8}{'detects (90 %)':>16}{'false alarms':>14}{'coverage':>10}{'power':>8}"
    f"{'verdict false alarms':>22}"
)


def format_row(c: Calibration) -> str:
    detectable = f"{c.detectable_gap:g}" if c.detectable_gap is not None else f"> {c.largest_tested:g}"
    coverage = "no CI" if c.coverage is None else f"{c.coverage:.1%}"
    case_coverage = "no CI" if c.case_coverage is None else f"{c.case_coverage:.1%}"
    return (
        f"{c.samples:>7}  {c.metric:<15}{c.cases:>6}{c.fail_threshold:>8g}{c.false_alarm_rate:>14.1%}"
        f"{coverage:>10}{c.power_at_fail:>8.1%}{detectable:>16}{c.case_false_alarm_rate:>14.1%}"
        f"{case_coverage:>10}{c.case_power_at_fail:>8.1%}{c.verdict_false_alarm_rate:>22.1%}"
    )
