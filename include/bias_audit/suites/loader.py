"""Find a suite by built-in name or file path, and turn every problem into a UserInputError."""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from bias_audit.errors import UserInputError
from bias_audit.suites.model import Suite

# libyaml's safe loader when PyYAML was built with it: the winobias suite loads in 0.2 s, not 1 s
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BUILTIN = resources.files("bias_audit.suites") / "builtin"


def builtin_suite_names() -> list[str]:
    return sorted(_builtin_files())


def _builtin_files() -> dict:
    """Built-in suites by name: ``NAME.yaml``, or ``NAME.yaml.gz`` for the large ones (discrim-eval's
    thousands of filled questions repeat one another: a twentieth of the size compressed)."""
    return {
        entry.name.removesuffix(".gz").removesuffix(".yaml"): entry
        for entry in _BUILTIN.iterdir()
        if entry.name.endswith((".yaml", ".yaml.gz"))
    }


def load_suite(name_or_path: str) -> Suite:
    """Load a built-in suite by name, or a suite from a YAML file path."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise UserInputError("no such suite file", source=str(path))
        return parse_suite(path.read_text(encoding="utf-8"), source=str(path))
    builtins = _builtin_files()
    if name_or_path in builtins:
        builtin = builtins[name_or_path]
        data = builtin.read_bytes()
        text = (gzip.decompress(data) if builtin.name.endswith(".gz") else data).decode("utf-8")
        return parse_suite(text, source=f"built-in suite {name_or_path}")
    raise UserInputError(
        f"unknown suite {name_or_path!r}; built-in suites are {', '.join(builtin_suite_names())}, "
        "or give the path of a .yaml file",
        field="suite",
    )


def parse_suite(text: str, *, source: str) -> Suite:
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserInputError(f"malformed YAML: {where}{problem}", source=source) from None
    if not isinstance(data, dict):
        raise UserInputError(
            f"a suite is a YAML mapping with name, system_prompt and cases; got {type(data).__name__}",
            source=source,
        )
    _check_shape(data, source)
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        raise UserInputError.from_validation(exc, source, every=True) from None


def _check_shape(data: dict, source: str) -> None:
    """A file that is not a suite at all stops here, said without any of its keys or values: the
    validation errors below quote values, and a file named by mistake (or on purpose, through a
    DAG param) may hold anything."""
    missing = [key for key in _REQUIRED if key not in data]
    if missing or not isinstance(data.get("cases"), list):
        raise UserInputError(
            f"not a suite: a suite is a YAML mapping with {', '.join(_REQUIRED)} (a list of cases)"
            + (f"; this file has no {' or '.join(missing)}" if missing else "; its cases are not a list"),
            source=source,
        )


_REQUIRED = tuple(name for name, field in Suite.model_fields.items() if field.is_required())
