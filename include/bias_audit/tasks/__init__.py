"""Task kinds: suites whose answers are parsed to what they decide, each kind one module.

A kind's module holds everything about it (tasks/base.py's ``TaskKind``): the config class of a
suite's ``task:`` block, its parser and per-answer columns, its metrics, and its report figures.
``KINDS`` below is the one place a kind is registered; the suite format (``Task``), the metric
registry, the scoring of answers (generate and the Spark job), the analysis and the report read it.
docs/development.md, "A task kind", is the recipe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from bias_audit.tasks import choice, esbbq, ranking, yes_no
from bias_audit.tasks.base import UNPARSED, TaskKind
from bias_audit.tasks.choice import ChoiceTask, parse_choice
from bias_audit.tasks.yes_no import YesNoTask, parse_yes_no

# The registry: every kind, in the order the metric registry and the docs list their metrics.
_ALL = (choice.KIND, yes_no.KIND, esbbq.KIND, ranking.KIND)
KINDS: dict[str, TaskKind] = {kind.name: kind for kind in _ALL}

# A suite's ``task:`` block: one of the kinds' config classes, told apart by ``kind``.
Task = Annotated[Union[tuple(kind.config for kind in KINDS.values())], Field(discriminator="kind")]  # noqa: UP007
_TASK: TypeAdapter = TypeAdapter(Task)

# The per-answer columns every features table has (None where a suite's kind has no such column).
TASK_COLUMNS: dict[str, str] = {name: t for kind in KINDS.values() for name, t in kind.columns.items()}

__all__ = [
    "KINDS",
    "TASK_COLUMNS",
    "UNPARSED",
    "ChoiceTask",
    "Task",
    "TaskKind",
    "YesNoTask",
    "kind_of",
    "parse_choice",
    "parse_yes_no",
    "task_of",
    "task_scores",
    "unit_of",
]


def task_of(task: Any) -> Any:
    """The task from a suite or from a run's manifest (its JSON form); None for a free-text suite."""
    if task is None or isinstance(task, tuple(kind.config for kind in KINDS.values())):
        return task
    return _TASK.validate_python(dict(task))


def kind_of(task: Any) -> TaskKind | None:
    """The registered kind of a task (any form task_of reads)."""
    task = task_of(task)
    return None if task is None else KINDS[task.kind]


def task_scores(
    task: Any, facts: Mapping, text: str | None, prompt: str | None = None, variant: str | None = None
) -> dict[str, object]:
    """The per-answer columns (``TASK_COLUMNS``) of one answer (``text``) to ``prompt``, a prompt of a
    case with ``facts`` (its attributes), of ``variant``: the kind's own filled in, the rest None;
    all None without a task or without text."""
    task = task_of(task)
    if task is None or text is None:
        return dict.fromkeys(TASK_COLUMNS)
    kind = KINDS[task.kind]
    scored = (
        kind.score(task, facts, text, prompt, variant=variant)
        if kind.takes_variant
        else kind.score(task, facts, text, prompt)
    )
    return {**dict.fromkeys(TASK_COLUMNS), **scored}


def unit_of(task: Any, case_id: str, facts: Mapping) -> str:
    """The case an answer to a prompt of ``case_id`` is analysed in: the case itself, or for a kind
    with a unit (EsBBQ's template) the case's value of that attribute."""
    task = task_of(task)
    unit = None if task is None else KINDS[task.kind].unit(task)
    return str(facts[unit]) if unit else case_id
