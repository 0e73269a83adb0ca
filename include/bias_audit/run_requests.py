"""The requests a run asks for, derived from its suite and configuration: the generation settings,
every prompt at each sample index, a sequential run's looks and a request's prompt tokens. Below
generate.py (which sends them) and plan.py (which counts them before any is sent)."""

from __future__ import annotations

from bias_audit.config import RunConfig
from bias_audit.llm.base import Request, derive_seed
from bias_audit.llm.tokens import estimate_prompt_tokens
from bias_audit.schedule import parse_schedule
from bias_audit.stats.design import DEFAULT_MAX_SAMPLES, Design, suite_design
from bias_audit.suites import Suite
from bias_audit.thresholds import Thresholds


def effective_settings(suite: Suite, config: RunConfig) -> dict[str, float | int]:
    """The run's generation settings: its own where given, else the suite's defaults."""
    defaults = suite.defaults
    return {
        "temperature": defaults.temperature if config.temperature is None else config.temperature,
        "top_p": defaults.top_p if config.top_p is None else config.top_p,
        "max_tokens": config.max_tokens or defaults.max_tokens,
    }


def system_prompt(suite: Suite, config: RunConfig) -> str:
    """The run's system prompt: its own where given (``""``: none), else the suite's."""
    return suite.system_prompt if config.system_prompt is None else config.system_prompt


def expand(
    suite: Suite,
    config: RunConfig,
    indices: range | None = None,
    prompts: set[tuple[str, str]] | None = None,
) -> list[Request]:
    """Every prompt of the suite (or those of ``prompts``, as (case, variant)), each sample index of
    ``indices`` (default: ``config.samples`` of them), with the run's generation settings."""
    settings = effective_settings(suite, config)
    system = system_prompt(suite, config)
    return [
        Request(
            suite=suite.name,
            case_id=item.case_id,
            variant=item.variant,
            prompt=item.prompt,
            system_prompt=system,
            sample_index=index,
            **settings,
            seed=derive_seed(config.seed, system, item.prompt, index),
            completion=suite.completion,
            language=suite.language,
        )
        for item in suite.prompts()
        if prompts is None or (item.case_id, item.variant) in prompts
        for index in (indices if indices is not None else range(config.samples))
    ]


def design_of(config: RunConfig, suite: Suite) -> Design:
    """A sequential run's design: its max_samples, its alpha (the run's thresholds'), and its looks
    (the run's ``looks`` with equal shares of alpha, else the suite's ``sequential.looks`` and
    ``spend``, else formula 1 of sequential.py)."""
    return suite_design(
        suite,
        config.max_samples or DEFAULT_MAX_SAMPLES,
        looks=parse_schedule(config.looks) if config.looks else None,
        alpha=Thresholds.from_overrides(config.thresholds).alpha,
    )


def prompt_tokens(request: Request) -> int:
    """The prompt tokens of a request as the rate limiter estimates them (padded, llm/tokens.py)."""
    return estimate_prompt_tokens(request.messages())
