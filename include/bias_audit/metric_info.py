"""What a metric is: its declaration (``Metric``) and the variation calibrate assumes for it
(``Variation``). The declarations themselves are in metric_registry.py and, for the metrics of a
task kind, in the kind's module (tasks/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["continuous", "rate", "skew", "grounding", "regression", "summary", "corrected"]
# What a suite asks of the model: "text", free answers measured by their words, or the name of a
# task kind (tasks/: "choice", WinoBias; "yes_no", decisions-gender).
SuiteTask = str
# The languages a suite can be written in: its answers are scored only by what is valid in its
# language (scoring/features.py), and a metric declares the languages it is valid in.
LANGUAGES: dict[str, str] = {"en": "English", "es": "Spanish"}
Language = Literal["en", "es"]


@dataclass(frozen=True)
class Variation:
    """How the metric's answers vary in the synthetic runs of ``bias-audit calibrate``: ``centre``
    is the mean (continuous), the base rate (rates) or the share of neutral answers assuming each
    gender (skew); ``case_sd`` and ``prompt_sd`` are in the metric's units (continuous) or logits."""

    centre: float
    answer_sd: float
    case_sd: float
    prompt_sd: float


@dataclass(frozen=True)
class Metric:
    name: str
    measures: str
    kind: Kind
    unit: str
    direction: str  # how to read a positive difference (group a minus group b)
    formula: str
    source: str
    warn: float | None = None  # None: reported, not part of the verdict
    fail: float | None = None
    calibration: Variation | None = None
    tasks: tuple[SuiteTask, ...] = ("text",)  # the suites it is measured on
    needs: str | None = None  # "judge": measured only in runs whose answers a judge graded (judge/)
    title: str = ""  # how pages name it for people ("Refusals"); the name stays in the tables
    # the languages whose answers it is valid on; another language's runs leave it out (why: ``not_in``)
    languages: tuple[str, ...] = ("en",)
    not_in: str = ""  # why it is not measured in the other languages, e.g. "VADER is English-only"
    of_group: str = "neutral"  # a skew: the group whose answers it is measured on, against 0

    @property
    def shown(self) -> str:
        return self.title or self.name

    @property
    def in_verdict(self) -> bool:
        return self.fail is not None
