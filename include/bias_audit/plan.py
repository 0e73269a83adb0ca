"""What an audit will ask before it asks anything: requests, tokens, time at the quota and cost, for
the fixed and the sequential design (``bias-audit plan``; logged by generate and kept in run.json).

A fixed run's requests are known: prompts x samples. A sequential run's depend on the answers, so
they are given as a range: at least the first look (a glaring gap decides there), typically what
synthetic audits of a fair model with the suite's layout spend (``calibrate.run_sequentially``,
the same code the calibration measures), at most every prompt at ``max_samples``. Tokens are counted
as Azure OpenAI charges them against the TPM quota on arrival: the prompt's tokens (the rate
limiter's estimate, llm/tokens.py) plus ``max_tokens``; so they, the time at the quota and the cost
of the output are upper bounds for the answers' length.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np

from bias_audit.calibrate import answers_per_sample, layout, run_sequentially
from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError
from bias_audit.run_requests import design_of, effective_settings, expand, prompt_tokens
from bias_audit.scoring.tasks import Scoring
from bias_audit.stats.design import Design
from bias_audit.suites import Suite
from bias_audit.thresholds import Thresholds

log = logging.getLogger(__name__)

# the synthetic fair audits behind a sequential plan's typical figure: at least FAIR_RUNS, more until
# the mean's standard error is within TYPICAL_PRECISION of it (a suite whose fair runs sometimes go
# far, winobias's, needs 25 or more: its mean of 5 missed the long-run one by a quarter), at most
# MOST_FAIR_RUNS or FAIR_WORK prompts x runs (discrim-eval's 6,300 prompts: at most 6 runs; 5 sufficed, 12 s)
FAIR_RUNS = 5
MOST_FAIR_RUNS = 40
FAIR_WORK = 40_000
TYPICAL_PRECISION = 0.05


@dataclass(frozen=True)
class Span:
    """A figure before the run: its least, typical and largest value (equal for a fixed run)."""

    least: float
    typical: float
    most: float

    def scaled(self, factor: float) -> Span:
        return Span(self.least * factor, self.typical * factor, self.most * factor)


@dataclass(frozen=True)
class DesignPlan:
    mode: str  # fixed or sequential
    sampling: str  # "5 samples per prompt" / "looks at 1, 3, 10, 30, 50 samples per prompt"
    requests: Span
    fair_runs: int  # the synthetic fair audits behind ``typical`` (0: a fixed run's, known)
    tokens: Span  # prompt + max_tokens per request
    minutes: Span | None  # at the quota (share), None without tpm/rpm
    cost: Span | None  # in the price's currency, None without prices


@dataclass(frozen=True)
class Plan:
    suite: str
    prompts: int
    prompt_tokens: float  # mean per request (padded estimate)
    max_tokens: int
    designs: list[DesignPlan]
    quota: str | None  # "tpm 100000, rpm 600, share 0.3"
    prices: str | None  # "input 2.5, output 10 per 1M tokens"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def of(self, mode: str) -> DesignPlan:
        return next(d for d in self.designs if d.mode == mode)

    def in_words(self) -> str:
        lines = [
            f"plan for suite {self.suite}: {self.prompts} prompts, about {self.prompt_tokens:.0f} prompt "
            f"tokens and at most {self.max_tokens} answer tokens a request"
            + (f"; quota {self.quota}" if self.quota else "")
            + (f"; prices {self.prices}" if self.prices else "")
        ]
        for d in self.designs:
            lines.append(f"  {d.mode} ({d.sampling}):")
            fair = f"a fair model: the mean of {d.fair_runs} synthetic audits"
            lines.append(f"    requests  {_span(d.requests, '{:,.0f}', fair=fair)}")
            lines.append(f"    tokens    {_span(d.tokens, '{:,.0f}')} (prompt + max_tokens)")
            if d.minutes is not None:
                lines.append(f"    time      {_span(d.minutes, '{}', _duration)} at the quota")
            if d.cost is not None:
                lines.append(f"    cost      {_span(d.cost, '{:,.2f}')} (answers at max_tokens: at most)")
        return "\n".join(lines)


# List prices in US dollars per 1M tokens (input, output) of common Azure OpenAI models on
# standard pay-as-you-go deployments, as defaults for ``bias-audit plan --price-model``; read on
# PRICES_READ (gpt-4o and gpt-4o-mini from a published summary of Azure OpenAI's rates, the gpt-4.1
# family from OpenAI's list prices, which Azure's global deployments match). Prices change and
# vary by region and deployment type: --price-input/--price-output give your own.
PRICES_READ = "2026-12-02"
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}


def model_prices(model: str) -> tuple[float, float]:
    """The table's (input, output) price of ``model``; another name is a UserInputError naming them."""
    if model not in PRICES:
        raise UserInputError(
            f"no listed price for {model!r}; listed: {', '.join(PRICES)} (or give --price-input and "
            "--price-output)",
            field="--price-model",
        )
    return PRICES[model]


def plan_run(
    suite: Suite,
    configs: list[RunConfig],
    *,
    price_input: float | None = None,
    price_output: float | None = None,
    price_model: str | None = None,
    fair_runs: int | None = None,
) -> Plan:
    """The plan of each of ``configs`` (a fixed and a sequential one, or a run's own) on ``suite``;
    the prompts, tokens and quota are the first one's. ``price_model``: the prices of a listed
    model (``PRICES``) where ``price_input``/``price_output`` are not given. ``fair_runs``: exactly
    that many synthetic fair audits behind a sequential plan's typical figure (None: ``fair_spend``)."""
    if price_model is not None:
        listed_in, listed_out = model_prices(price_model)
        price_input = listed_in if price_input is None else price_input
        price_output = listed_out if price_output is None else price_output
    config = configs[0]

    for name, price in (("--price-input", price_input), ("--price-output", price_output)):
        if price is not None and (not math.isfinite(price) or price < 0):
            raise UserInputError(f"must be a price >= 0 per 1M tokens (value: {price})", field=name)
    one = expand(suite, config, range(1))  # each prompt once
    prompts = len(one)
    mean_prompt = sum(prompt_tokens(r) for r in one) / prompts
    max_tokens = int(effective_settings(suite, config)["max_tokens"])
    per_request = mean_prompt + max_tokens
    designs = []
    for each in configs:
        mode = each.mode
        if mode == "fixed":
            samples, runs = each.samples, 0
            requests = Span(prompts * samples, prompts * samples, prompts * samples)
            sampling = f"{samples} samples per prompt"
        else:
            design = design_of(each, suite)
            typical, runs = fair_spend(suite, design, Thresholds.from_overrides(each.thresholds), fair_runs)
            requests = Span(prompts * design.looks[0], typical, prompts * design.max_samples)
            sampling = design.describe().split(";")[0]
        tokens = requests.scaled(per_request)
        designs.append(
            DesignPlan(
                mode, sampling, requests, runs, tokens, _minutes(config, requests, tokens),
                _cost(requests, mean_prompt, max_tokens, price_input, price_output),
            )
        )  # fmt: skip
    quota = None
    if config.tpm or config.rpm:
        parts = [f"tpm {config.tpm}" if config.tpm else "", f"rpm {config.rpm}" if config.rpm else ""]
        share = f", share {config.quota_share:g}" if config.quota_share is not None else ""
        quota = ", ".join(p for p in parts if p) + share
    prices = None
    if price_input is not None or price_output is not None:
        prices = f"input {price_input or 0:g}, output {price_output or 0:g} per 1M tokens" + (
            f" ({price_model}'s list price, read {PRICES_READ})" if price_model else ""
        )
    return Plan(suite.name, prompts, mean_prompt, max_tokens, designs, quota, prices)


def fair_spend(
    suite: Suite, design: Design, thresholds: Thresholds, runs: int | None = None
) -> tuple[float, int]:
    """The mean requests of synthetic sequential audits of a fair model with the suite's layout, and
    how many there were: ``runs``, else at least FAIR_RUNS and more until the mean's standard error is
    within TYPICAL_PRECISION of it (at most MOST_FAIR_RUNS, or FAIR_WORK prompts x runs). The draws
    are seeded by the suite and design, so a plan is the same every time it is made."""
    cases, scoring = layout(suite), Scoring.of_suite(suite)
    prompts = sum(len(variants) for variants in cases.values())
    most = runs or max(FAIR_RUNS, min(MOST_FAIR_RUNS, FAIR_WORK // max(prompts, 1)))
    rng = np.random.default_rng([len(suite.cases), design.max_samples, 17])
    spent: list[int] = []
    while len(spent) < most:
        run = run_sequentially(
            cases, design, rng, {}, thresholds, scoring=scoring, per_sample=answers_per_sample(suite)
        )
        spent.append(run.requests)
        if runs is None and len(spent) >= FAIR_RUNS:
            mean, error = float(np.mean(spent)), float(np.std(spent, ddof=1)) / math.sqrt(len(spent))
            if error <= TYPICAL_PRECISION * mean:
                break
    return float(np.mean(spent)), len(spent)


def announce_plan(config: RunConfig, suite: Suite) -> dict[str, object]:
    """The run's plan, logged before any request (the generate task's log), with what its worst
    case says of the budgets; returned for run.json."""
    plan = plan_run(suite, [config])
    log.info("%s", plan.in_words())
    for said in check_against_budget(plan.designs[0], config):
        log.warning("%s", said)
    return plan.as_dict()


def check_against_budget(plan: DesignPlan, config: RunConfig) -> list[str]:
    """What the plan's worst case says of the run's budgets (each a sentence; none when it fits)."""
    said = []
    if config.budget_requests is not None and plan.requests.most > config.budget_requests:
        said.append(
            f"at most {plan.requests.most:,.0f} requests may be needed, more than budget_requests "
            f"({config.budget_requests:,}): the run stops at the budget, maybe before its verdict is settled"
        )
    if config.budget_tokens is not None and plan.tokens.most > config.budget_tokens:
        said.append(
            f"at most {plan.tokens.most:,.0f} tokens may be needed, more than budget_tokens "
            f"({config.budget_tokens:,}): the run stops at the budget, maybe before its verdict is settled"
        )
    return said


def _minutes(config: RunConfig, requests: Span, tokens: Span) -> Span | None:
    if not (config.tpm or config.rpm):
        return None
    share = config.quota_share or 1.0

    def minutes(n: float, t: float) -> float:
        return max(
            n / (config.rpm * share) if config.rpm else 0.0, t / (config.tpm * share) if config.tpm else 0.0
        )

    return Span(*(minutes(n, t) for n, t in zip(_values(requests), _values(tokens), strict=True)))


def _cost(requests: Span, prompt: float, answer: int, price_in: float | None, price_out: float | None):
    if price_in is None and price_out is None:
        return None
    per_request = (prompt * (price_in or 0.0) + answer * (price_out or 0.0)) / 1_000_000
    return requests.scaled(per_request)


def _values(span: Span) -> tuple[float, float, float]:
    return span.least, span.typical, span.most


def _span(span: Span, form: str, show=None, fair: str = "a fair model") -> str:
    show = show or form.format
    if span.least == span.most:
        return show(span.most)
    return f"{show(span.least)} to {show(span.most)}, typically {show(span.typical)} ({fair})"


def _duration(minutes: float) -> str:
    if minutes < 1:
        return f"{max(minutes * 60, 1):.0f} s"
    if minutes < 120:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"
