"""The run's parameters, declared once: ``RunConfig`` (config.py). The CLI's flags (here) and the
DAG's Params (orchestration/params.py) are derived from its JSON schema — type, bounds, choices,
title, description, default — so that a field added to ``RunConfig`` appears in ``bias-audit
generate`` and in the Airflow trigger form without another edit.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError

# Set by the orchestrator or the command line itself, not a parameter of the run's content.
NOT_PARAMETERS = ("run_id",)


def field_schemas(model: type[BaseModel] = RunConfig) -> dict[str, dict[str, Any]]:
    """Per parameter, its JSON schema with an optional value folded into the type
    (``anyOf: [{type: integer, ...}, {type: null}]`` -> ``type: [null, integer], ...``), which
    is the form Airflow's trigger form renders."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    fields = {}
    for name, spec in schema["properties"].items():
        if name in NOT_PARAMETERS:
            continue
        spec = dict(spec)
        options = spec.pop("anyOf", None)
        if options:
            kinds = [o for o in options if o.get("type") != "null"]
            if len(kinds) != 1:
                raise TypeError(f"{model.__name__}.{name}: only Optional[X] is supported")
            spec = {**kinds[0], **spec, "type": ["null", kinds[0]["type"]]}
        spec["required"] = name in required
        fields[name] = spec
    return fields


def _type_of(spec: dict[str, Any]) -> str:
    kinds = spec["type"] if isinstance(spec.get("type"), list) else [spec.get("type", "string")]
    return next(k for k in kinds if k != "null")


def _json_or_file(flag: str) -> Callable[[str], dict]:
    def parse(value: str) -> dict:
        path = Path(value)
        text, source = (path.read_text(encoding="utf-8"), str(path)) if path.is_file() else (value, flag)
        try:
            document = yaml.safe_load(text)  # YAML is a superset of JSON: both are accepted
        except yaml.YAMLError as exc:
            raise UserInputError(f"not JSON or YAML ({exc})", source=source) from None
        if not isinstance(document, dict):
            raise UserInputError(f"must be a mapping, got {type(document).__name__}", source=source)
        return document

    return parse


_ARGPARSE_TYPES: dict[str, Callable[[str], Any]] = {"integer": int, "number": float, "string": str}
_METAVARS = {"integer": "N", "number": "X", "string": "TEXT", "object": "JSON|FILE"}


def add_arguments(parser: argparse.ArgumentParser, model: type[BaseModel] = RunConfig) -> None:
    """One flag per parameter (``max_tokens`` -> ``--max-tokens``). Flags not given are left out,
    so the model's own defaults apply (see ``values_from``)."""
    for name, spec in field_schemas(model).items():
        kind = _type_of(spec)
        flag = "--" + name.replace("_", "-")
        default = spec.get("default")
        help_text = spec.get("description") or spec.get("title", name)
        if default is not None:
            help_text += f" (default {default})"
        options: dict[str, Any] = {
            "dest": name,
            "default": argparse.SUPPRESS,
            "required": spec["required"],
            "help": help_text,
        }
        if kind == "boolean":  # --batch / --no-batch
            options["action"] = argparse.BooleanOptionalAction
            parser.add_argument(flag, **options)
            continue
        if "enum" in spec:
            options["choices"] = spec["enum"]
        else:
            options["metavar"] = _METAVARS.get(kind, "VALUE")
        # object parameters are parsed after argparse, so that a bad value is a UserInputError
        options["type"] = str if kind == "object" else _ARGPARSE_TYPES.get(kind, str)
        parser.add_argument(flag, **options)


def values_from(args: argparse.Namespace, model: type[BaseModel] = RunConfig) -> dict[str, Any]:
    """The parameters given on the command line, parsed (JSON or YAML, text or file, for objects)."""
    values = {}
    for name, spec in field_schemas(model).items():
        if hasattr(args, name):
            value = getattr(args, name)
            if _type_of(spec) == "object" and isinstance(value, str):
                value = _json_or_file("--" + name.replace("_", "-"))(value)
            values[name] = value
    return values


def json_or_file(value: str | None, flag: str) -> dict | None:
    """A mapping given as JSON or YAML text, or as the path of a file holding it."""
    return None if value is None else _json_or_file(flag)(value)
