"""The DAG's Params, derived from ``RunConfig`` (the one declaration of a run's parameters; see
parameters.py), and the ``RunConfig`` of a DAG run."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from airflow.sdk import Param
from pydantic import BaseModel

from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError
from bias_audit.named_files import dag_suite, dag_text_or_file
from bias_audit.orchestration.gate import FAIL_ON
from bias_audit.parameters import field_schemas
from bias_audit.run_folder import safe_run_id
from bias_audit.stats.design import DEFAULT_MAX_SAMPLES

# Where the DAG's defaults differ from the command line's: scheduled and UI-triggered audits are
# sequential (stop as soon as the verdict is settled) within a budget (docs/airflow.md), on a suite
# whose verdict can both fail and pass: occupations-gender's 180 cases settle the gaps across cases
# (seed-lab, the command line's default, can fail on a glaring gap in its own prompts but never pass).
DAG_DEFAULTS: dict[str, Any] = {
    "suite": "occupations-gender",
    "mode": "sequential",
    "max_samples": DEFAULT_MAX_SAMPLES,
    "budget_requests": 20_000,
}
# A deployment's own defaults (JSON), over DAG_DEFAULTS: what its scheduled audits run with, e.g.
# '{"suite": "occupations-gender", "provider": "azure", "quota_share": 0.3}'. Read when the DAG is
# parsed (dag-processor); a bad value fails the DAG's import with the variable and field named.
DEFAULTS_ENV = "BIAS_AUDIT_DAG_DEFAULTS"
# Each mode's own parameters: the other mode's are left out of the run's RunConfig.
_ONLY_IN = {"samples": "fixed", "max_samples": "sequential", "looks": "sequential"}


# The DAG's params beyond the run's content: what the run is compared with and what fails it.
BASELINES = ("auto", "none", "previous")


def audit_params() -> dict[str, Param]:
    """The params of the DAG run itself (not of RunConfig), with their defaults."""
    return {
        "baseline": Param(
            "auto",
            type="string",
            minLength=1,
            title="Compare with",
            description="The audit to compare this one with: auto (the previous audit of the same suite, "
            "provider and model for scheduled runs; none for manual ones), previous, none, or a run id.",
            examples=list(BASELINES),
            section="Compare with an earlier audit",
        ),
        "fail_on_increase": Param(
            False,
            type="boolean",
            title="Fail when a gap increased",
            description="Fail the DAG run when a gap increased significantly against the baseline audit.",
            section="Compare with an earlier audit",
        ),
        "fail_on": Param(
            "fail",
            type="string",
            enum=list(FAIL_ON),
            title="Fail the run on",
            description="Verdicts that fail the DAG run (after the report is written): fail, warn "
            "(fail or warn), never (log a warning only). Inconclusive never fails it.",
            values_display={
                "fail": "a fail verdict fails the run",
                "warn": "a warn or fail verdict fails the run",
                "never": "never: log a warning only",
            },
            section="The verdict",
        ),
    }


def deployment_defaults(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """DAG_DEFAULTS with the deployment's ``BIAS_AUDIT_DAG_DEFAULTS``, checked as a run would be."""
    text = (os.environ if environ is None else environ).get(DEFAULTS_ENV, "").strip()
    if not text:
        return dict(DAG_DEFAULTS)
    try:
        given = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"not JSON ({exc.msg} at column {exc.colno})", field=DEFAULTS_ENV) from None
    if not isinstance(given, dict):
        raise UserInputError(f"a JSON object of params (value: {text!r})", field=DEFAULTS_ENV)
    own = audit_params()
    unknown = sorted(set(given) - set(field_schemas(RunConfig)) - set(own))
    if unknown:
        raise UserInputError(f"unknown params {unknown}", field=DEFAULTS_ENV)
    for name in set(given) & set(own):
        try:
            own[name].resolve(given[name])  # the param's own schema
        except Exception as exc:  # Airflow's ParamValidationError names the schema's complaint
            raise UserInputError(f"{name}: {exc}", field=DEFAULTS_ENV) from None
    defaults = {**DAG_DEFAULTS, **given}
    try:  # the run a scheduled trigger would make of them
        run_config(defaults, "scheduled__check", conf={})
    except UserInputError as exc:
        raise UserInputError(str(exc), field=DEFAULTS_ENV) from None
    return defaults


def dag_params(
    model: type[BaseModel] = RunConfig, defaults: Mapping[str, Any] | None = None
) -> dict[str, Param]:
    """Every param of the DAG: one per parameter of ``model``, with its JSON schema (type, bounds,
    choices, title, description), then ``audit_params``. The trigger form renders them; Airflow
    validates a triggered run against them. Defaults: DAG_DEFAULTS and the deployment's
    ``BIAS_AUDIT_DAG_DEFAULTS``."""
    defaults = deployment_defaults() if defaults is None else defaults
    params = {}
    for name, spec in field_schemas(model).items():
        schema = {k: v for k, v in spec.items() if k not in ("default", "required")}
        params[name] = Param(defaults.get(name, spec.get("default")), **schema)
    for name, param in audit_params().items():
        schema = {k: v for k, v in param.schema.items() if k != "default"}
        params[name] = Param(defaults.get(name, param.value), description=param.description, **schema)
    return params


def run_config(
    params: Mapping[str, Any],
    airflow_run_id: str,
    model: type[RunConfig] = RunConfig,
    conf: Mapping[str, Any] | None = None,
) -> RunConfig:
    """The audit's RunConfig from the DAG run's params; its run_id from Airflow's, made path-safe.

    The form shows both modes' fields; the run takes its own mode's (``samples`` for fixed,
    ``max_samples`` for sequential). A run's ``conf`` (what the trigger gave, as opposed to the
    defaults) that names ``samples`` but no ``mode`` asks for that many samples: a fixed run.
    Files named by ``suite`` and ``system_prompt`` must be in the deployment's folder for them
    (named_files.py): whoever may trigger the DAG may not read the worker's other files."""
    mode = params.get("mode", "fixed")
    if conf and "mode" not in conf and "samples" in conf and "max_samples" not in conf:
        mode = "fixed"
    if mode == "sequential" and conf and "samples" in conf:
        # the form sends every field: a samples changed from its default with Sampling sequential
        # would otherwise be ignored silently, and the run take up to max_samples instead
        default = deployment_defaults().get("samples", RunConfig.model_fields["samples"].default)
        if conf["samples"] != default:
            raise UserInputError(
                f"is fixed sampling's answers per prompt (value: {conf['samples']!r}), but Sampling is "
                "sequential, which takes max_samples: choose Sampling fixed, or leave samples at "
                f"{default} and set max_samples",
                field="samples",
            )
    params = {**params, "mode": mode}
    given = {
        name: params[name]
        for name in field_schemas(model)
        if name in params and _ONLY_IN.get(name, mode) == mode
    }
    if "suite" in given:
        given["suite"] = dag_suite(given["suite"])
    if "system_prompt" in given:
        given["system_prompt"] = dag_text_or_file(given["system_prompt"])
    return model.build(run_id=safe_run_id(airflow_run_id), **given)


def baseline_spec(param: str | None, scheduled: bool) -> str:
    """``auto`` (the default) is ``previous`` for scheduled audits and ``none`` for manual ones."""
    spec = (param or "auto").strip() or "auto"
    if spec == "auto":
        return "previous" if scheduled else "none"
    return spec
