"""``bias-audit suites from-prompts``: a team's own prompts made into a counterfactual suite.

Each prompt that refers to a person's gender becomes a case whose variants are the prompt with
every reference turned female and male (and nonbinary where it can be written correctly): the
swappers (own_prompts/swap_english.py, own_prompts/swap_spanish.py) read the references with their grammar
and leave out, with the reason, what they cannot turn safely. Prompts with no reference are
listed (identical variants would measure nothing), or, with ``persona``, asked with a stated
persona instead ("The user is a woman."), a different question: does the model treat the *user*
differently. Beside the suite a review file (HTML, and CSV for a spreadsheet) shows every prompt,
every variant with the swapped words marked, and what was left out and why, so a person can check
each case before a request is spent; the suite records its source file's sha256.

Nothing is written unless every file can be: the suite and its review files are written to
temporary names and renamed at the end.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from bias_audit.errors import UserInputError
from bias_audit.html import environment, marked_spans
from bias_audit.llm.tokens import estimate_prompt_tokens
from bias_audit.own_prompts.swap_english import swap_english
from bias_audit.own_prompts.swap_spanish import swap_spanish
from bias_audit.own_prompts.swap_text import Left, Swapped

# The local model reads 2,048 tokens: the answer's 100 and the template's few leave about 1,900.
DEFAULT_MAX_PROMPT_TOKENS = 1900
PERSONAS = {
    "en": {
        "female": "The user is a woman.",
        "male": "The user is a man.",
        "nonbinary": "The user is nonbinary.",
    },
    "es": {"female": "La persona usuaria es una mujer.", "male": "La persona usuaria es un hombre."},
}
STATUSES = {
    "case": "made into a case",
    "persona": "asked with a stated persona (--persona)",
    "none": "not made into a case",
    "unsafe": "left out: a reference cannot be swapped safely",
    "duplicate": "left out: a duplicate",
    "empty": "left out: empty",
    "too_long": "left out: over the model's context",
}


@dataclass(frozen=True)
class Outcome:
    """What became of one prompt of the file."""

    line: int
    prompt: str
    status: str  # a key of STATUSES
    reason: str = ""
    case_id: str | None = None
    swapped: Swapped | None = None


@dataclass(frozen=True)
class Generated:
    suite: dict  # the suite document (suites/model.py's Suite, as written)
    outcomes: list[Outcome]


def read_prompts(path: Path, column: str = "prompt") -> tuple[list[tuple[int, str]], str]:
    """The file's prompts with their line numbers, and its sha256. Plain text is a prompt per
    line; ``.csv`` a column of a header row (``column``); ``.jsonl``/``.ndjson`` a key of a JSON
    object per line. Raises UserInputError (exit 2) naming the file and the line."""
    source = str(path)
    if not path.is_file():
        raise UserInputError("no such file", source=source)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if b"\x00" in data:
        at = data.index(b"\x00")
        raise UserInputError(
            f"not a text file: it holds a NUL byte (at byte {at}); give plain text, CSV or JSON lines",
            source=source,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserInputError(
            f"line {line}: not UTF-8 text (byte {exc.start}); save the file as UTF-8", source=source
        ) from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        prompts = list(_csv(text, column, source))
    elif suffix == ".json" and text.lstrip().startswith("["):
        prompts = list(_json_array(text, column, source))
    elif suffix in (".jsonl", ".ndjson", ".json"):
        prompts = list(_json_lines(text, column, source))
    else:
        prompts = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not prompts:
        raise UserInputError(
            "no prompts: the file is empty (or holds only blank lines or a header)", source=source
        )
    return prompts, digest


def _csv(text: str, column: str, source: str) -> Iterator[tuple[int, str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise UserInputError("no prompts: the file is empty", source=source) from None
    if column not in header:
        shown = ", ".join(repr(h) for h in header[:12])
        raise UserInputError(
            f"no column {column!r} (its columns: {shown}); name it with --column", source=source
        )
    at = header.index(column)
    line = reader.line_num + 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                yield line, (row[at] if at < len(row) else "").strip()
            line = reader.line_num + 1
    except csv.Error as exc:
        raise UserInputError(f"line {reader.line_num}: not CSV: {exc}", source=source) from None


def _json_array(text: str, column: str, source: str) -> Iterator[tuple[int, str]]:
    """A JSON array of prompts (strings, or objects with the key ``column``); each numbered by
    its place in the array (1, 2, ...), which the review file and the case ids use as the line."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"line {exc.lineno}: not JSON: {exc.msg}", source=source) from None
    for n, item in enumerate(items, 1):
        value = item.get(column) if isinstance(item, dict) else item
        if not isinstance(value, str):
            raise UserInputError(
                f"item {n}: neither text nor an object with the key {column!r}", source=source
            )
        yield n, value.strip()


def _json_lines(text: str, column: str, source: str) -> Iterator[tuple[int, str]]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserInputError(f"line {n}: not JSON: {exc.msg}", source=source) from None
        if not isinstance(item, dict) or column not in item:
            raise UserInputError(f"line {n}: no key {column!r} (name it with --column)", source=source)
        if not isinstance(item[column], str):
            raise UserInputError(f"line {n}: {column!r} is not text", source=source)
        yield n, item[column].strip()


def generate(
    path: Path,
    *,
    name: str,
    language: str = "en",
    column: str = "prompt",
    names_race: bool = False,
    force: bool = False,
    persona: bool = False,
    names: dict[str, str] | None = None,
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS,
    review: str | None = None,
) -> Generated:
    """Read the file's prompts and make each into a case, or say why not."""
    prompts, digest = read_prompts(path, column)
    seen: dict[str, int] = {}
    options = {"force": force, "names": names, "race": names_race}
    outcomes = [
        _outcome(line, prompt, seen, language, persona, max_prompt_tokens, options)
        for line, prompt in prompts
    ]
    cases = [_case(o) for o in outcomes if o.swapped is not None]
    if not cases:
        counts = ", ".join(f"{n} {STATUSES[s]}" for s, n in _counts(outcomes).items())
        raise UserInputError(
            f"no prompt could be made into a case ({counts}); see the reasons above"
            + ("" if persona else ", or ask them with a stated persona (--persona)"),
            source=str(path),
        )
    made = sum(o.status == "case" for o in outcomes)
    asked = sum(o.status == "persona" for o in outcomes)
    left = len(outcomes) - made - asked
    description = (
        f"Counterfactual cases from the team's prompts in {path.name} (bias-audit suites from-prompts): "
        f"{made} prompts with every reference to the person's gender turned female and male"
        + (f", {asked} asked with a stated persona" if asked else "")
        + f"; {left} left out (see the review file{f' {review}' if review else ''})."
    )
    suite = {
        "name": name,
        "description": description,
        **({"language": language} if language != "en" else {}),
        "generated_from": {
            "file": path.name,
            "sha256": digest,
            "review": review,
            "prompts": len(outcomes),
            "cases": made,
            "persona_cases": asked,
            "left_out": left,
        },
        "system_prompt": "",
        "cases": cases,
    }
    return Generated(suite, outcomes)


def _outcome(
    line: int, prompt: str, seen: dict[str, int], language: str, persona: bool, limit: int, options: dict
) -> Outcome:
    """What becomes of one prompt: a case, a persona case, or left out with the reason."""
    if not prompt:
        return Outcome(line, prompt, "empty", "an empty prompt")
    key = " ".join(prompt.split()).lower()
    if key in seen:
        return Outcome(line, prompt, "duplicate", f"the same prompt as line {seen[key]}")
    seen[key] = line
    tokens = estimate_prompt_tokens([{"role": "user", "content": prompt}])
    if tokens > limit:
        reason = f"about {tokens:,} tokens, over the {limit:,} the model can read (--max-prompt-tokens)"
        return Outcome(line, prompt, "too_long", reason)
    result = _swap(prompt, language, **options)
    if isinstance(result, Swapped):
        return Outcome(line, prompt, "case", "", f"line-{line}", result)
    if result.status == "none" and persona:
        return Outcome(line, prompt, "persona", result.reason, f"line-{line}", _persona(prompt, language))
    return Outcome(line, prompt, result.status, result.reason)


def _swap(
    prompt: str, language: str, *, force: bool, names: dict[str, str] | None, race: bool
) -> Swapped | Left:
    if language == "es":
        return swap_spanish(prompt, force=force, names=names)
    return swap_english(prompt, force=force, names=names, race=race)


def _persona(prompt: str, language: str) -> Swapped:
    variants, marks = {}, {}
    for gender, sentence in PERSONAS[language].items():
        variants[gender] = f"{sentence} {prompt}"
        marks[gender] = [(0, len(sentence))]
    return Swapped(variants, marks, [], ["a stated persona: does the model treat the user differently?"])


def _case(outcome: Outcome) -> dict:
    swapped = outcome.swapped
    assert swapped is not None
    attributes = {
        "source_line": str(outcome.line),
        "kind": "persona" if outcome.status == "persona" else "swap",
    }
    return {
        "case_id": outcome.case_id,
        "variants": dict(swapped.variants),
        "attributes": {**attributes, **swapped.attributes},
    }


def _counts(outcomes: list[Outcome]) -> dict[str, int]:
    return dict(Counter(outcome.status for outcome in outcomes))


def suite_yaml(generated: Generated, command: str) -> str:
    source = generated.suite["generated_from"]
    header = (
        f"# Generated by: {command}\n"
        f"# from {source['file']} (sha256 {source['sha256']}).\n"
        "# Check every case in the review file before running it; edit or delete cases here as you would\n"
        "# any suite (bias-audit suites validate FILE).\n"
    )
    return header + yaml.safe_dump(generated.suite, allow_unicode=True, sort_keys=False, width=100)


def review_html(generated: Generated, suite_name: str) -> str:
    rows = []
    for outcome in generated.outcomes:
        swapped = outcome.swapped
        variants = []
        if swapped is not None:
            variants = [
                (g, marked_spans(text, swapped.marks.get(g, []))) for g, text in swapped.variants.items()
            ]
        original = (
            marked_spans(outcome.prompt, swapped.original_marks) if swapped is not None else outcome.prompt
        )
        notes = [outcome.reason] if outcome.reason and outcome.status != "persona" else []
        notes += swapped.notes if swapped is not None else []
        rows.append(
            {
                "outcome": outcome,
                "original": original,
                "variants": variants,
                "notes": notes,
                "label": STATUSES[outcome.status],
            }
        )
    return (
        environment()
        .get_template("prompts_review.html.j2")
        .render(
            suite=generated.suite,
            suite_name=suite_name,
            rows=rows,
            counts=_counts(generated.outcomes),
            statuses=STATUSES,
        )
    )


def review_csv(generated: Generated) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["line", "status", "case_id", "prompt", "female", "male", "nonbinary", "references", "reason"]
    )
    for o in generated.outcomes:
        variants = o.swapped.variants if o.swapped is not None else {}
        notes = ([o.reason] if o.reason else []) + (o.swapped.notes if o.swapped is not None else [])
        writer.writerow(
            [
                o.line,
                o.status,
                o.case_id or "",
                o.prompt,
                variants.get("female", ""),
                variants.get("male", ""),
                variants.get("nonbinary", ""),
                "; ".join(o.swapped.references) if o.swapped else "",
                "; ".join(notes),
            ]
        )
    return out.getvalue()


def review_paths(out: Path) -> tuple[Path, Path]:
    """The review files beside a suite file: my-suite.yaml -> my-suite.review.html, .review.csv."""
    return out.with_name(f"{out.stem}.review.html"), out.with_name(f"{out.stem}.review.csv")


def write_all(files: dict[Path, str]) -> None:
    """Every file or none: each written to a temporary name first, then all renamed."""
    temporary = {path: path.with_name(f".{path.name}.tmp-{os.getpid()}") for path in files}
    try:
        for path, text in files.items():
            temporary[path].write_text(text, encoding="utf-8")
        for path, tmp in temporary.items():
            tmp.replace(path)
    finally:
        for tmp in temporary.values():
            tmp.unlink(missing_ok=True)
