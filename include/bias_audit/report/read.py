"""A run's data as the report reads it: its rows of the tables and its run folder's manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bias_audit.errors import UserInputError
from bias_audit.run_folder import RunFolder
from bias_audit.stats.metrics import (
    FAMILY_PER_CASE,
    LEVEL,
    OVERALL,
    is_subgroup,
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
