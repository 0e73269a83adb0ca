"""Run configuration.

One ``RunConfig`` describes one audit run; the CLI and the Airflow DAG both build it, so both
validate input the same way and report a bad value by its field name.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bias_audit.errors import UserInputError
from bias_audit.llm.registry import ENTRIES, PROVIDERS, connections_help, titled
from bias_audit.run_folder import RUN_ID_PATTERN, check_run_id
from bias_audit.schedule import parse_schedule
from bias_audit.suites.loader import builtin_suite_names
from bias_audit.thresholds import Thresholds

# The built-in suites' sizes, for the trigger form (tests/test_parameters.py checks them).
SUITE_SIZES = (
    "Prompts: seed-lab 10, decisions-gender 144, occupations-gender 720, winobias 1,580, discrim-eval "
    "6,300, discrim-eval-all-ages 9,450, hiring-names 320, "
    "hiring-names-ranking 160; in Spanish, "
    "seed-lab-es 15, occupations-gender-es 540, esbbq-gender 4,832, esbbq-age 4,068, "
    "esbbq-race-ethnicity 3,716, esbbq-spanish-region 988."
)
# What a run of each built-in suite asks at the defaults, for the trigger form (a test keeps it true).
SUITE_REQUESTS = (
    "Requests at 5 samples per prompt (fixed) / at most, to max_samples 50 (sequential): seed-lab 50 / "
    "500, decisions-gender 720 / 7,200, occupations-gender 3,600 / 36,000, winobias 7,900 / 79,000, "
    "discrim-eval 31,500 / 315,000, discrim-eval-all-ages 47,250 / 472,500, hiring-names 1,600 / 16,000, "
    "hiring-names-ranking 800 / 8,000, "
    "seed-lab-es 75 / 750, occupations-gender-es 2,700 / 27,000, esbbq-gender 24,160 / 241,600, esbbq-age "
    "20,340 / 203,400, esbbq-race-ethnicity 18,580 / 185,800, esbbq-spanish-region 4,940 / 49,400. A "
    "sequential run usually stops far earlier; the generate task's log opens with the run's plan "
    "(requests, tokens, time at the quota) and bias-audit plan prints it beforehand."
)


class RunConfig(BaseModel):
    """What one audit run asks of generation. ``None`` means "the suite's default".

    The one declaration of the run's parameters: the CLI's flags and the DAG's Params are derived
    from these fields (parameters.py, orchestration/params.py), titles and descriptions included.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = Field(pattern=RUN_ID_PATTERN)
    mode: Literal["fixed", "sequential"] = Field(
        "fixed",
        title="Sampling",
        description="fixed: `samples` answers per prompt. sequential: rounds of answers, looked at after "
        "each, stopping as soon as the verdict is settled (or at max_samples, or the budget). "
        + SUITE_REQUESTS,
        json_schema_extra={
            "values_display": {
                "fixed": "Fixed: samples answers per prompt",
                "sequential": "Sequential: stop as soon as the verdict is settled",
            }
        },
    )
    suite: str = Field(
        "seed-lab",
        min_length=1,
        title="Suite",
        description="A built-in suite (pick one) or the path of a YAML suite file (from the DAG: a file "
        "in the folder the deployment names, BIAS_AUDIT_SUITES_DIR; a relative path is taken from there). "
        "seed-lab (the lab's 10 prompts) can fail on a glaring gap in its own prompts but never pass: too "
        "few cases; occupations-gender, winobias and decisions-gender can pass and fail. Race, age and "
        "their intersections: discrim-eval (fixed, 1 sample per prompt; 3 for the race x gender cells) "
        "and hiring-names (fixed, 5-20 samples), hiring-names-ranking (who is ranked first). "
        "Your own prompts: `bias-audit suites from-prompts prompts.csv --out my-suite.yaml` makes each "
        "prompt that names a person's gender into a female/male case; check its review file, put the "
        "suite in that folder and give its file name here. "
        f"{SUITE_SIZES} A run asks prompts x samples (fixed), or up to prompts x max_samples "
        "(sequential); `bias-audit plan` gives requests, tokens, time and cost before a run.",
        json_schema_extra={"examples": builtin_suite_names()},  # a list to pick from, free text allowed
    )
    samples: int = Field(
        5,
        gt=0,
        title="Samples per prompt (fixed sampling only)",
        description="Only for Sampling fixed: answers per prompt (a sequential run takes max_samples; "
        "a changed value here with Sampling sequential is refused, not ignored). A few settle only "
        "glaring gaps: a fixed audit you can defend needs a suite with many cases (occupations-gender) "
        "and 20 or more samples per prompt.",
    )
    max_samples: int | None = Field(
        None,
        gt=0,
        title="Max samples per prompt (sequential)",
        description="The most answers per prompt a sequential audit may take (empty: 50). Rounds of "
        "5, 15, 30, 60 ... up to it.",
        json_schema_extra={"section": "Sequential sampling and budget"},
    )
    looks: str | None = Field(
        None,
        min_length=1,
        title="Looks (sequential)",
        description="Samples per prompt at each look of a sequential audit, comma-separated and "
        "increasing, e.g. 1, 3, 10, 30 (capped at max_samples, which is always the last), alpha shared "
        "equally over them; empty: the suite's own looks and shares (winobias: 1, 2, 3, 4, 8, 16, less "
        "alpha at the first), else 5, 15, 30, 60 ...",
        json_schema_extra={"section": "Sequential sampling and budget"},
    )
    budget_requests: int | None = Field(
        None,
        gt=0,
        title="Budget: requests",
        description="The most requests the run may send (resumed runs count what they sent before). A "
        "sequential audit starts no round that would exceed it; a fixed one that needs more is refused. "
        "What a run will ask (requests, tokens, time, cost): `bias-audit plan` with the same settings, "
        "and the generate task's log before its first request.",
        json_schema_extra={"section": "Sequential sampling and budget"},
    )
    budget_tokens: int | None = Field(
        None,
        gt=0,
        title="Budget: tokens",
        description="The most tokens (prompt + completion) the run may spend; a round is started only "
        "when its expected tokens, at the mean per request so far, fit.",
        json_schema_extra={"section": "Sequential sampling and budget"},
    )
    provider: Literal[PROVIDERS] = Field(  # type: ignore[valid-type]
        "local",
        title="Provider",
        description="Which LLM to audit. " + connections_help(),
        json_schema_extra={"values_display": {name: titled(name) for name in PROVIDERS}},
    )
    max_tokens: int | None = Field(
        None,
        gt=0,
        title="Max tokens",
        description="Upper bound on tokens per answer; empty = the suite's.",
        json_schema_extra={"section": "Generation settings (empty: the suite's)"},
    )
    temperature: float | None = Field(
        None,
        ge=0.0,
        le=2.0,
        title="Temperature",
        description="Sampling temperature; empty = the suite's.",
        json_schema_extra={"section": "Generation settings (empty: the suite's)"},
    )
    top_p: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        title="Top p",
        description="Nucleus sampling; empty = the suite's.",
        json_schema_extra={"section": "Generation settings (empty: the suite's)"},
    )
    seed: int = Field(
        0,
        ge=0,
        title="Seed",
        description="Base seed; each sample's seed is derived from it.",
        json_schema_extra={"section": "Generation settings (empty: the suite's)"},
    )
    tpm: int | None = Field(
        None,
        gt=0,
        title="Tokens per minute",
        description="The deployment's tokens-per-minute quota (remote providers).",
        json_schema_extra={"section": "Remote providers (azure, openai)"},
    )
    rpm: int | None = Field(
        None,
        gt=0,
        title="Requests per minute",
        description="The deployment's requests-per-minute quota (remote providers).",
        json_schema_extra={"section": "Remote providers (azure, openai)"},
    )
    concurrency: int | None = Field(
        None,
        gt=0,
        le=512,
        title="Concurrency",
        description="Most requests in flight at once (remote providers). Empty: sized from the quota "
        "(tpm, rpm) and the measured latency, requests in flight = rate x latency; 8 without a quota.",
        json_schema_extra={"section": "Remote providers (azure, openai)"},
    )
    quota_share: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        title="Quota share",
        description="The share of the deployment's quota (tpm, rpm) the audit may use, e.g. 0.3 on a "
        "deployment that also serves production; it backs off further while the deployment answers 429. "
        "Empty: all of it.",
        json_schema_extra={"section": "Remote providers (azure, openai)"},
    )
    batch: bool = Field(
        False,
        title="Azure Batch API",
        description="Send the requests as Azure OpenAI batch jobs (provider azure, a global-batch "
        "deployment): half the price, no real-time quota used, answers within 24 hours.",
        json_schema_extra={"section": "Remote providers (azure, openai)"},
    )
    system_prompt: str | None = Field(
        None,
        title="System prompt",
        description="Replaces the suite's system prompt, e.g. a mitigation to test: the text, or the "
        "path of a file holding it (from the DAG: a file in the folder the deployment names, "
        'BIAS_AUDIT_SUITES_DIR); "" for no system prompt at all. Not set: the suite\'s.',
        json_schema_extra={"section": "Generation settings (empty: the suite's)"},
    )
    judge: Literal[("none", *PROVIDERS)] = Field(  # type: ignore[valid-type]
        "none",
        title="Stereotyping judge",
        description="A model that grades every answer for stereotyping (rubric stereotyping-v2, 0-3): "
        "azure (connection bias_audit_judge, else azure_openai_default's resource with "
        "BIAS_AUDIT_JUDGE_* settings), openai, or local (Gemma 3 270M: a poor judge, see its "
        "judge-check). Its gap is reported beside its measured agreement with human labels.",
        json_schema_extra={
            "section": "Stereotyping judge (optional)",
            "values_display": {
                "none": "No judge",
                **{name: titled(name, "bias_audit_judge" if name != "local" else None) for name in PROVIDERS},
                "local": "Local model (Gemma 3 270M: a poor judge)",
            },
        },
    )
    judge_tpm: int | None = Field(
        None,
        gt=0,
        title="Judge: tokens per minute",
        description="The judge deployment's tokens-per-minute quota.",
        json_schema_extra={"section": "Stereotyping judge (optional)"},
    )
    judge_rpm: int | None = Field(
        None,
        gt=0,
        title="Judge: requests per minute",
        description="The judge deployment's requests-per-minute quota.",
        json_schema_extra={"section": "Stereotyping judge (optional)"},
    )
    thresholds: dict[str, Any] | None = Field(
        None,
        title="Verdict thresholds",
        description='Verdict thresholds over the defaults, e.g. {"warn": {"word_count": 15}}, and '
        'the error the verdict allows, {"alpha": 0.01} (default 0.05; a sequential run shares it '
        "over its looks).",
        json_schema_extra={"section": "The verdict"},
    )

    @field_validator("looks")
    @classmethod
    def _a_schedule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return ", ".join(str(s) for s in parse_schedule(value))  # ValueError names the problem

    @field_validator("run_id")
    @classmethod
    def _not_shared(cls, value: str) -> str:
        try:
            return check_run_id(value)
        except UserInputError as exc:
            raise ValueError(str(exc).removeprefix("run_id: ")) from None

    @classmethod
    def build(cls, **values: Any) -> RunConfig:
        try:
            config = cls.model_validate(values)
        except ValidationError as exc:
            raise UserInputError.from_validation(exc) from None
        Thresholds.from_overrides(config.thresholds)  # a bad threshold fails before any request
        if config.mode == "sequential" and "samples" in config.model_fields_set:
            raise UserInputError(
                f"is the fixed design's answers per prompt (value: {config.samples}); a sequential run "
                "(--sequential, mode sequential) takes max_samples instead",
                field="samples",
            )
        if config.batch and not ENTRIES[config.provider].batch:
            batching = ", ".join(e.name for e in ENTRIES.values() if e.batch)
            raise UserInputError(
                f"needs provider {batching}: the {config.provider} provider has no batch API here",
                field="batch",
            )
        if config.quota_share is not None and not (config.tpm or config.rpm):
            raise UserInputError(
                f"is a share of the deployment's quota (value: {config.quota_share}); give the quota "
                "too: tpm and/or rpm",
                field="quota_share",
            )
        for name in ("judge_tpm", "judge_rpm"):
            if getattr(config, name) is not None and config.judge == "none":
                raise UserInputError(
                    f"is the judge's quota (value: {getattr(config, name)}); choose a judge too (--judge)",
                    field=name,
                )
        for name in ("max_samples", "looks"):
            value = getattr(config, name)
            if config.mode == "fixed" and value is not None:
                raise UserInputError(
                    f"applies to sequential runs only (value: {value}); give --sequential "
                    "(mode sequential), or samples for a fixed run",
                    field=name,
                )
        return config
