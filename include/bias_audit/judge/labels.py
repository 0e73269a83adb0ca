"""Human grades of a random sample of a run's answers: what the judge-corrected interval
(ppi.py) rests on.

``export_sheet`` writes a CSV of answers to label, sampled as the interval needs them: a random
set of cases and, in each, a few answers of every group, shuffled and without the judge's grade
(labelling blind to it). ``import_sheet`` reads the filled sheet back into ``<run>/labels.jsonl``;
a label that is not 0-3, or an answer the run does not hold, is an error naming the line.
"""

from __future__ import annotations

import csv
import json
import os
import random
from pathlib import Path

from bias_audit.errors import UserInputError
from bias_audit.judge.grading import gradable_answers
from bias_audit.judge.rubric import LEVELS
from bias_audit.records import utc_now
from bias_audit.run_folder import RunFolder

SHEET_COLUMNS = ("request_key", "case_id", "question", "answer", "label", "labeller")
# What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection"): a cell of model
# text that starts so would run when a labeller opens the sheet.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert_cell(text: str) -> str:
    """``text`` as a cell no spreadsheet evaluates: one that starts like a formula (after any
    leading spaces, which Excel and LibreOffice skip) gets a leading apostrophe, OWASP's rule.
    Only the sheet's text for reading is changed; the columns read back (request_key, label,
    labeller) are never altered."""
    return "'" + text if text.lstrip(" ").startswith(_FORMULA_STARTS) else text


def _answers(folder: RunFolder) -> dict[str, dict]:
    if not folder.responses.is_file():
        raise UserInputError(
            "no answers recorded here; run `bias-audit generate` first", source=str(folder.path)
        )
    return gradable_answers(folder)


def export_sheet(run_id: str, runs: Path, file: Path, *, cases: int, per_variant: int, seed: int = 0) -> int:
    """Write ``cases`` random cases' answers, ``per_variant`` of each group, to ``file``."""
    if cases < 1 or per_variant < 1:
        raise UserInputError(
            f"must be at least 1 (value: {min(cases, per_variant)})", field="cases/per-variant"
        )
    answers = _answers(RunFolder.of(runs, run_id))
    by_case: dict[str, dict[str, list[dict]]] = {}
    for record in sorted(answers.values(), key=lambda r: r["request_key"]):
        by_case.setdefault(record["case_id"], {}).setdefault(record["variant"], []).append(record)
    rng = random.Random(seed)
    chosen = rng.sample(sorted(by_case), min(cases, len(by_case)))
    rows = [
        record
        for case in chosen
        for _, records in sorted(by_case[case].items())
        for record in rng.sample(records, min(per_variant, len(records)))
    ]
    rng.shuffle(rows)
    file.parent.mkdir(parents=True, exist_ok=True)
    with file.open("w", newline="", encoding="utf-8") as sheet:
        writer = csv.writer(sheet)
        writer.writerow(SHEET_COLUMNS)
        for record in rows:
            cells = (record["case_id"], record["prompt"], record["text"] or "")
            writer.writerow([record["request_key"], *map(inert_cell, cells), "", ""])
    return len(rows)


def import_sheet(run_id: str, runs: Path, file: Path) -> tuple[int, Path]:
    """Record the sheet's labels (rows with an empty label are skipped) with the run; labels of
    answers labelled before are replaced, others kept."""
    folder = RunFolder.of(runs, run_id)
    answers = _answers(folder)
    if not file.is_file():
        raise UserInputError("no such file", source=str(file))
    labels = read_labels(folder)
    count = 0
    with file.open(newline="", encoding="utf-8") as sheet:
        reader = csv.DictReader(sheet)
        missing = {"request_key", "label"} - set(reader.fieldnames or ())
        if missing:
            raise UserInputError(f"has no column {', '.join(sorted(missing))}", source=str(file))
        for line, row in enumerate(reader, 2):
            text = (row.get("label") or "").strip()
            if not text:
                continue
            key = (row.get("request_key") or "").strip()
            if key not in answers:
                raise UserInputError(
                    f"line {line}: request_key {key!r} is not an answer of run {run_id}", source=str(file)
                )
            if text not in {str(level) for level in LEVELS}:
                raise UserInputError(
                    f"line {line}: label must be 0, 1, 2 or 3 (value: {text!r})", source=str(file)
                )
            labels[key] = {
                "request_key": key,
                "label": int(text),
                "labeller": (row.get("labeller") or "").strip() or None,
                "recorded_at": utc_now().isoformat(),
            }
            count += 1
    partial = folder.labels.with_name(f".{folder.labels.name}.partial")
    partial.write_text("".join(json.dumps(v) + "\n" for v in labels.values()), encoding="utf-8")
    os.replace(partial, folder.labels)
    return count, folder.labels


def read_labels(folder: RunFolder) -> dict[str, dict]:
    """The run's human labels by request key (empty without any)."""
    if not folder.labels.is_file():
        return {}
    return {
        (row := json.loads(line))["request_key"]: row
        for line in folder.labels.read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
