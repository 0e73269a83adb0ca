"""``bias-audit score``: score texts the way an audit scores its answers (one JSON line out per
line in), e.g. a team's logged answers, or to check what the gender detector reads."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from bias_audit.errors import UserInputError
from bias_audit.metric_info import LANGUAGES
from bias_audit.scoring.features import FEATURES, score_text
from bias_audit.scoring.spanish import read_gender


def register(commands: argparse._SubParsersAction) -> None:
    """score"""
    score = commands.add_parser(
        "score",
        help="score texts as an audit scores answers (JSON lines out)",
        description="Score each input line as an audit scores an answer: assumed_gender, the "
        "female/male/neutral evidence counts and words, and the other per-answer features valid "
        "in the language. Input: JSON lines with a 'text' field (other fields are passed through), "
        "or plain lines of text.",
    )
    score.add_argument(
        "input", nargs="?", default="-", metavar="FILE|-", help="input (default: standard input)"
    )
    score.add_argument(
        "--language", choices=tuple(LANGUAGES), default="en", help="the texts' language (default en)"
    )
    score.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="NAME=female|male",
        help="a first name and its gender, read as evidence in Spanish texts (repeatable)",
    )
    score.set_defaults(handler=_score)


def _score(args: argparse.Namespace) -> int:
    names = {}
    for given in args.name:
        name, _, gender = given.partition("=")
        if not name or gender not in ("female", "male"):
            raise UserInputError(f"give NAME=female or NAME=male (value: {given!r})", field="--name")
        names[name] = gender
    if args.input == "-":
        _write(score_lines(sys.stdin, args.language, "<stdin>", names), sys.stdout)
        return 0
    path = Path(args.input)
    if not path.is_file():
        raise UserInputError("no such file", source=str(path))
    with path.open(encoding="utf-8") as lines:
        _write(score_lines(lines, args.language, str(path), names), sys.stdout)
    return 0


def _write(rows: Iterable[dict[str, Any]], out: TextIO) -> None:
    for row in rows:  # each line is out before the next is read: a bad line loses none before it
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        out.flush()


def score_lines(
    lines: Iterable[str], language: str, source: str, names: dict[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """Each line's record with its scores: a JSON object's fields and the features, or, for a plain
    line, ``text`` and the features. Features the language lacks are left out, not null."""
    supported = {f.name for f in FEATURES[language]}
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\n")
        record = _record(line, f"{source}:{number}")
        scores = {k: v for k, v in score_text(record["text"], language, names).items() if k in supported}
        scores["gender_evidence"] = _evidence(record["text"], language, scores.get("gender_evidence"), names)
        yield {**record, **scores, "language": language}


def _record(line: str, where: str) -> dict[str, Any]:
    if not line.lstrip().startswith("{"):
        return {"text": line}
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"not a JSON object: {exc.msg} (column {exc.colno})", source=where) from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        value = record.get("text") if isinstance(record, dict) else record
        raise UserInputError(
            f"needs a 'text' field holding a string (value: {json.dumps(value)[:60]})",
            source=where,
            field="text",
        )
    return record


def _evidence(
    text: str, language: str, joined: str | None, names: dict[str, str] | None = None
) -> list[dict[str, str]] | list[str]:
    """The words that decided assumed_gender: for Spanish each with its group and rule."""
    if language == "es":
        return [
            {"words": e.words, "group": e.group, "rule": e.rule} for e in read_gender(text, names).evidence
        ]
    return [w for w in (joined or "").split("; ") if w]
