"""The run folder: the one owner of the files of an audit run, which every stage and the UI use.

    <runs>/<run_id>/responses.jsonl   every answer, appended as it arrives          (generate)
    <runs>/<run_id>/run.json          the manifest: configuration, suite hash, case
                                      attributes, thresholds                         (generate)
    <runs>/<run_id>/grades.jsonl      the judge's grade of each answer (optional)     (judge)
    <runs>/<run_id>/labels.jsonl      human grades of a sample of its answers         (judge-labels)
    <runs>/<run_id>/analysis.json     the Spark job's summary: verdict, findings      (analyze)
    <runs>/<run_id>/report.html       the report, its PNGs beside it                  (report)
    <runs>/<run_id>/comparison.json   this run against a baseline audit, and its page
                    comparison.html   (compare)
    <runs>/<run_id>/suite_review.html the review file of a suite made from a team's prompts  (generate)
    <runs>/trends.html                the trend page of every audit                   (report)

The manifest carries what later stages need of the suite (its cases' attributes), so analysis and
report never reload the suite from its path, which may have changed since the run (its content
hash is recorded beside them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bias_audit.errors import UserInputError

log = logging.getLogger(__name__)

RESPONSES_FILE = "responses.jsonl"
MANIFEST_FILE = "run.json"
ANALYSIS_FILE = "analysis.json"
REPORT_FILE = "report.html"
SUITE_REVIEW_FILE = "suite_review.html"
FAILURE_FILE = "failure.json"  # why an Airflow run of this audit failed, when it did (run_note.py)
COMPARISON_FILE = "comparison.json"
COMPARISON_PAGE = "comparison.html"
GRADES_FILE = "grades.jsonl"
LABELS_FILE = "labels.jsonl"
TRENDS_FILE = "trends.html"  # in the runs directory, not in a run's folder
JUDGE_CACHE_FILE = ".judge-cache.jsonl"  # in the runs directory: every grade by judge key
JUDGE_CHECKS_DIR = "judge-checks"  # in the runs directory: judge-check's result per judge
# The runs directory's own files: a run id may not be one of them (in any case, for file systems
# that ignore it), else the run's folder would take the shared file's place. A shared file added
# to the runs directory is added here.
SHARED_NAMES = frozenset({TRENDS_FILE, JUDGE_CACHE_FILE, JUDGE_CHECKS_DIR})

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_RUN_ID = re.compile(RUN_ID_PATTERN)


def is_run_id(text: str) -> bool:
    """Whether ``text`` can name a run folder: the pattern, and none of the shared names."""
    return bool(_RUN_ID.match(text)) and text.lower() not in SHARED_NAMES


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise UserInputError(
            f"must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit "
            f"(value: {run_id!r})",
            field="run_id",
        )
    if not is_run_id(run_id):
        raise UserInputError(
            f"is the name of a file the runs folder keeps for every run (value: {run_id!r}); "
            f"reserved: {', '.join(sorted(SHARED_NAMES))}",
            field="run_id",
        )
    return run_id


def safe_run_id(text: str) -> str:
    """An Airflow run id (``manual__2026-11-29T10:00:00+00:00``) as a run id: itself when it is
    one already, else made path-safe and given a short hash of the original, so that two Airflow
    runs never share a folder (``...10:00:00+00:00`` and a custom ``...10_00_00_00_00`` would
    clean to the same name)."""
    if is_run_id(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")[:119] or "run"
    return f"{cleaned}-{digest}"


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @classmethod
    def of(cls, runs: Path, run_id: str) -> RunFolder:
        return cls(Path(runs) / run_id)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def responses(self) -> Path:
        return self.path / RESPONSES_FILE

    @property
    def grades(self) -> Path:
        return self.path / GRADES_FILE

    @property
    def labels(self) -> Path:
        return self.path / LABELS_FILE

    @property
    def analysis(self) -> Path:
        return self.path / ANALYSIS_FILE

    @property
    def report(self) -> Path:
        return self.path / REPORT_FILE

    @property
    def comparison(self) -> Path:
        return self.path / COMPARISON_FILE

    @property
    def suite_review(self) -> Path:
        return self.path / SUITE_REVIEW_FILE

    @property
    def comparison_page(self) -> Path:
        return self.path / COMPARISON_PAGE

    def generated_from(self, info: BaseModel | None, suite_source: str) -> dict[str, Any]:
        """The manifest's ``generated_from`` for a suite made by ``suites from-prompts`` (its source
        file's name and hash, the counts), the review file beside the suite kept in this folder
        (``review_kept``); nothing for any other suite."""
        if info is None:
            return {}
        document = info.model_dump()
        review = document.get("review")
        kept = bool(review) and self.keep_suite_review(Path(suite_source).parent / Path(review).name)
        return {"generated_from": {**document, "review_kept": kept}}

    def keep_suite_review(self, review: Path) -> bool:
        """A copy of the review file beside a suite made by ``suites from-prompts``, as it was when
        the run started (the report links it). Only a ``*.review.html`` file is copied; False when
        there is none (the suite moved without it, or is a copy)."""
        if self.suite_review.is_file():
            return True
        if not review.name.endswith(".review.html") or not review.is_file():
            log.warning("the suite's review file %s is not beside it", review.name)
            return False
        self.path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(review, self.suite_review)
        return True

    def response_log(self) -> ResponseLog:
        return ResponseLog(self.responses)

    def read_manifest(self) -> dict[str, Any]:
        """The run's ``run.json`` (empty when it is missing, e.g. for answers written by hand)."""
        path = self.path / MANIFEST_FILE
        if not path.is_file():
            log.warning("%s is missing; the run's settings (suite hash, thresholds ...) are unknown", path)
            return {}
        return json.loads(path.read_text(encoding="utf-8"))

    def check_owner(self, origin: Mapping[str, str] | None) -> None:
        """Refuse to write into a folder that another Airflow run (or the command line) started:
        its answers and settings would be mixed with this run's. The same DAG run, retried or
        cleared, resumes its own folder; the command line may resume any."""
        airflow_run = (origin or {}).get("airflow_run_id")
        path = self.path / MANIFEST_FILE
        if not airflow_run or not path.is_file():
            return
        owner = json.loads(path.read_text(encoding="utf-8")).get("airflow_run_id")
        if owner != airflow_run:
            started = f"Airflow run {owner!r}" if owner else "the command line"
            raise UserInputError(
                f"the audit folder {self.run_id!r} belongs to a run that {started} started, not to "
                f"Airflow run {airflow_run!r}; trigger this one with another run id",
                field="run_id",
            )

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Atomically: a reader never sees half a manifest."""
        self.path.mkdir(parents=True, exist_ok=True)
        partial = self.path / f".{MANIFEST_FILE}.partial"
        partial.write_text(json.dumps(dict(manifest), indent=2) + "\n", encoding="utf-8")
        os.replace(partial, self.path / MANIFEST_FILE)

    def case_attributes(self, manifest: Mapping[str, Any] | None = None) -> dict[str, dict]:
        """The cases' attributes (occupation, BLS share) recorded at generation time; from
        ``manifest`` when the caller has read it already."""
        manifest = self.read_manifest() if manifest is None else manifest
        return dict(manifest.get("case_attributes") or {})

    @property
    def failure(self) -> Path:
        return self.path / FAILURE_FILE

    def write_failure(self, record: Mapping[str, Any]) -> None:
        """Why the run failed (reason, the Airflow run, when): the runs page and the report tab
        show it. Written by the run-note listener when an Airflow run of the audit fails."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.failure.write_text(json.dumps(dict(record), indent=2, default=str) + "\n", encoding="utf-8")

    def read_failure(self) -> dict[str, Any] | None:
        return json.loads(self.failure.read_text(encoding="utf-8")) if self.failure.is_file() else None

    def write_analysis(self, summary: Mapping[str, Any]) -> Path:
        """The analysis summary beside the run's answers (what the pages and the demo read)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.analysis.write_text(json.dumps(dict(summary), indent=2, default=str) + "\n", encoding="utf-8")
        return self.analysis

    def read_analysis(self) -> dict[str, Any] | None:
        return json.loads(self.analysis.read_text(encoding="utf-8")) if self.analysis.is_file() else None


def judge_cache(runs: Path) -> Path:
    return Path(runs) / JUDGE_CACHE_FILE


def judge_checks(runs: Path) -> Path:
    return Path(runs) / JUDGE_CHECKS_DIR


def trends_page(runs: Path) -> Path:
    return Path(runs) / TRENDS_FILE


def started_runs(runs: Path) -> Iterator[RunFolder]:
    """Every run folder under ``runs`` with a manifest (generation began), in name order."""
    for path in sorted(Path(runs).glob(f"*/{MANIFEST_FILE}")):
        yield RunFolder(path.parent)


def failed_runs(runs: Path) -> Iterator[RunFolder]:
    """Every run folder under ``runs`` whose Airflow run recorded a failure, in name order."""
    for path in sorted(Path(runs).glob(f"*/{FAILURE_FILE}")):
        yield RunFolder(path.parent)


def analysed_runs(runs: Path) -> Iterator[RunFolder]:
    """Every run folder under ``runs`` that holds an analysis summary, in name order."""
    for path in sorted(Path(runs).glob(f"*/{ANALYSIS_FILE}")):
        yield RunFolder(path.parent)


class ResponseLog:
    """Append-only JSONL of records (answers, grades); tolerant of a torn last line after a crash."""

    def __init__(self, path: Path):
        self.path = path

    def recorded_keys(self) -> set[str]:
        if not self.path.exists():
            return set()
        return {record["request_key"] for record in self._read()}

    def records(self) -> list[dict[str, object]]:
        """Every complete record, in the order written (a key answered twice: both)."""
        return list(self._read()) if self.path.exists() else []

    def _read(self) -> Iterator[dict[str, object]]:
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.endswith("\n"):
                    yield json.loads(line)

    def _drop_torn_tail(self) -> None:
        """A line without its newline was cut by a crash mid-write; its request is sent again."""
        if not self.path.exists():
            return
        with self.path.open("rb+") as file:
            data = file.read()
            if data and not data.endswith(b"\n"):
                file.truncate(data.rfind(b"\n") + 1)
                log.warning("%s: dropped a partial last line left by an interrupted run", self.path)

    def open(self) -> ResponseLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_tail()
        self._file = self.path.open("a", encoding="utf-8")
        return self

    def append(self, record: BaseModel) -> None:
        self._file.write(record.model_dump_json() + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()
