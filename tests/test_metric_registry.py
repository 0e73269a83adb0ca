"""The metric registry is the one place a metric is declared: the thresholds, the comparisons,
calibrate and the docs' table all follow it."""

from __future__ import annotations

from pathlib import Path

from bias_audit.calibrate import DEFAULT_VARIATION
from bias_audit.metric_registry import (
    CALIBRATED,
    GAP_METRICS,
    REGISTRY,
    VERDICT_METRICS,
    calibrated,
    gap_metrics,
    markdown_table,
)
from bias_audit.thresholds import Thresholds

DOCS = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"


def test_the_docs_table_is_the_registrys():
    assert markdown_table() in DOCS.read_text(encoding="utf-8")


def test_thresholds_and_calibration_come_from_the_registry():
    defaults = Thresholds()
    for metric in REGISTRY:
        if metric.in_verdict:
            assert (defaults.warn[metric.name], defaults.fail[metric.name]) == (metric.warn, metric.fail)
        else:
            assert metric.name not in defaults.warn
        if metric.calibration:
            assert DEFAULT_VARIATION[metric.name] == metric.calibration
    assert set(CALIBRATED) == set(DEFAULT_VARIATION) == set(VERDICT_METRICS)
    assert GAP_METRICS == ("sentiment", "agency_balance", "refusal", "word_count", "not_ok")
    # a choice task (WinoBias) is measured by what its answers decide, not by their words
    assert gap_metrics("choice") == ("not_ok", "accuracy", "unparsed")
    assert calibrated("choice") == ("not_ok", "accuracy", "unparsed")
    assert calibrated("yes_no") == ("not_ok", "unparsed", "yes_rate")
    assert set(calibrated("text")) == set(CALIBRATED) - {
        "accuracy",
        "unparsed",
        "yes_rate",
        "ambig_bias",
        "top_ratio",
    }
    # EsBBQ (Spanish): the accuracy gap pro vs anti and the ambiguous contexts' skew
    assert calibrated("esbbq", "es") == ("not_ok", "accuracy", "unparsed", "ambig_bias")
    assert gap_metrics("esbbq", language="es") == ("not_ok", "accuracy", "unparsed")


def test_every_metric_says_what_it_measures_and_how_to_read_it():
    for metric in REGISTRY:
        assert metric.measures and metric.unit and metric.direction and metric.formula, metric.name
        assert metric.warn is None or metric.warn < metric.fail, metric.name
