"""A run's data as the report reads it: its rows of the tables and its run folder's manifest."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bias_audit.errors import UserInputError
from bias_audit.metric_registry import GAP_METRICS
from bias_audit.run_folder import RunFolder
from bias_audit.stats.metrics import (
    FAMILY_PER_CASE,
    LEVEL,
    OVERALL,
    answer_values,
    is_subgroup,
    occupation_shares,
)
from bias_audit.tables import Tables, open_tables
from bias_audit.thresholds import Thresholds


def applied_thresholds(run: dict[str, Any], folder: RunFolder) -> Thresholds:
    """The thresholds the run's verdict applied, as the runs table stores them (runs analysed
    before the table had them: the run's configuration)."""
    if run.get("thresholds"):
        return Thresholds.from_json(run["thresholds"])
    return Thresholds.from_overrides(folder.read_manifest().get("thresholds"))


@dataclass
class RunData:
    """One analysed run: its rows of each table, its manifest and what the report derives from
    them once (the overall, per-case and subgroup rows; the thresholds it applied)."""

    run_id: str
    folder: RunFolder
    store: Tables
    run: dict[str, Any]
    metrics: list[dict]
    responses: list[dict]
    features: list[dict]
    looks: list[dict]
    manifest: dict[str, Any]
    attributes: dict[str, dict]
    thresholds: Thresholds
    task: dict[str, Any] | None = None
    findings: list[dict] = field(default_factory=list)  # the overall rows
    in_cases: list[dict] = field(default_factory=list)  # the per-case rows (the verdict's family)
    subgroups: list[dict] = field(default_factory=list)

    @property
    def task_kind(self) -> str | None:
        return None if self.task is None else self.task.get("kind")

    @functools.cached_property
    def shares(self) -> dict[str, tuple[int, int, float]]:
        """Per occupation, the neutral answers assuming female (metrics.occupation_shares)."""
        return occupation_shares(answer_values(self.features), self.attributes)

    @functools.cached_property
    def heatmap(self) -> dict[str, Any] | None:
        """The per-case gaps as a matrix (``case_gaps``); None for a task suite."""
        return None if self.task else case_gaps(self.metrics, self.attributes, self.thresholds)


def read_run(run_id: str, runs_dir: Path, warehouse: Path | str | Tables) -> RunData:
    """The run's rows of the runs, metrics, responses, features and looks tables; a run the
    warehouse does not have is a UserInputError that names the warehouse."""
    store = open_tables(warehouse)
    rows = {
        name: list(store.rows(name, run_id)) for name in ("runs", "metrics", "responses", "features", "looks")
    }
    if not rows["runs"]:
        raise UserInputError(
            f"no analysed run {run_id!r} in the warehouse; run analyze first", source=store.location
        )
    run, metrics = rows["runs"][0], rows["metrics"]
    folder = RunFolder.of(runs_dir, run_id)
    manifest = folder.read_manifest()
    return RunData(
        run_id=run_id,
        folder=folder,
        store=store,
        run=run,
        metrics=metrics,
        responses=rows["responses"],
        features=rows["features"],
        looks=rows["looks"],
        manifest=manifest,
        attributes=folder.case_attributes(manifest),
        thresholds=applied_thresholds(run, folder),
        task=manifest.get("task"),
        findings=[m for m in metrics if m["scope"] == OVERALL],
        in_cases=[m for m in metrics if m.get("adjusted_over") == FAMILY_PER_CASE],
        subgroups=sorted(
            (m for m in metrics if is_subgroup(m["scope"])),
            key=lambda m: (m["scope"], m["group_b"] == LEVEL, m["metric"], m["group_a"]),
        ),
    )


def case_gaps(
    metrics: list[dict], attributes: dict[str, dict], thresholds: Thresholds, most: int = 30
) -> dict[str, Any] | None:
    """The per-case rows of female vs male (else the pair with the most cases) as a matrix: one row
    per occupation (its cases' mean gap; the case itself when it has no occupation), one column
    per metric, each gap in units of the metric's fail threshold; the ``most`` rows with the
    largest gap, most severe first. None when fewer than 3 cases have rows."""
    per_case = [
        m
        for m in metrics
        if m["scope"] != OVERALL
        and not is_subgroup(m["scope"])
        and m["metric"] in GAP_METRICS
        and m["difference"] is not None
    ]
    pairs: dict[tuple[str, str], set[str]] = {}
    for m in per_case:
        pairs.setdefault((m["group_a"], m["group_b"]), set()).add(m["scope"])
    if not pairs:
        return None
    pair = ("female", "male") if ("female", "male") in pairs else max(pairs, key=lambda p: len(pairs[p]))
    if len(pairs[pair]) < 3:
        return None
    has_occupation = any("occupation" in attributes.get(case, {}) for case in pairs[pair])
    values: dict[str, dict[str, list[float]]] = {}
    for m in per_case:
        if (m["group_a"], m["group_b"]) != pair:
            continue
        name = str(attributes.get(m["scope"], {}).get("occupation", m["scope"]))
        values.setdefault(name, {}).setdefault(m["metric"], []).append(
            m["difference"] / thresholds.fail[m["metric"]]
        )
    columns = [metric for metric in GAP_METRICS if any(metric in v for v in values.values())]
    rows = [
        (name, [float(np.mean(v[c])) if c in v else float("nan") for c in columns])
        for name, v in values.items()
    ]
    rows.sort(key=lambda r: max((abs(x) for x in r[1] if not math.isnan(x)), default=0.0), reverse=True)
    return {
        "pair": f"{pair[0]} − {pair[1]}",
        "unit": "occupation" if has_occupation else "case",
        "columns": columns,
        "rows": rows[:most],
    }
