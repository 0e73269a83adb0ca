"""How well ``suites from-prompts`` swaps: its swappers scored on the project's labelled prompts
(tests/data/swap_en.tsv, tests/data/swap_es.tsv), read by benchmarks/swap_quality.py and the tests.

A labelled line is ``expected<TAB>trap<TAB>prompt``: ``f``/``m`` (the prompt names a woman or a
man; ``{female|male}`` or ``{female|male|nonbinary}`` give the variants, the prompt as written
being the one of its gender), ``+nb`` when a nonbinary variant can be written, ``skip`` (no swap of
it is right: it must be left out) or ``none`` (no reference to a person's gender).

Scores: *exactly right* — the female and male variants both as labelled, or a skip/none prompt not
made into a case; *wrongly swapped* — a case whose female or male variant differs from the label,
or a case made of a prompt that must be left out (worse than a skip: it measures something else);
*skipped* — a prompt with a swap left out (safe, but a case lost). The nonbinary variant is scored
apart: written as labelled, left out, or written wrong.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bias_audit.own_prompts.swap_text import Swapped, first_names, words

_CHOICE = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Labelled:
    line: int
    expected: str  # f, m, skip, none
    nonbinary: bool
    trap: str
    prompt: str  # as written
    female: str | None = None
    male: str | None = None
    neutral: str | None = None


def read_labelled(path: Path) -> list[Labelled]:
    found = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        expected, trap, template = line.split("\t")
        gender, _, nb = expected.partition("+")
        if gender in ("skip", "none"):
            found.append(Labelled(n, gender, False, trap, template))
            continue
        pick = {g: _pick(template, k) for k, g in enumerate(("female", "male", "nonbinary"))}
        written = pick["female"] if gender == "f" else pick["male"]
        found.append(
            Labelled(
                n,
                gender,
                nb == "nb",
                trap,
                written,
                pick["female"],
                pick["male"],
                pick["nonbinary"] if nb else None,
            )
        )
    return found


def _pick(template: str, k: int) -> str:
    return _CHOICE.sub(lambda m: m.group(1).split("|")[min(k, len(m.group(1).split("|")) - 1)], template)


@dataclass
class Quality:
    total: int = 0
    exact: int = 0
    wrong: int = 0
    skipped: int = 0
    nonbinary_expected: int = 0
    nonbinary_right: int = 0
    nonbinary_wrong: int = 0
    wrong_lines: list[str] = field(default_factory=list)
    skipped_lines: list[str] = field(default_factory=list)
    by_trap: Counter = field(default_factory=Counter)
    exact_by_trap: Counter = field(default_factory=Counter)

    def share(self, n: int) -> float:
        return n / self.total if self.total else 0.0


def score(labelled: list[Labelled], swap) -> Quality:
    """``swap(prompt)`` -> Swapped | Left, scored against each labelled prompt."""
    quality = Quality()
    for item in labelled:
        result = swap(item.prompt)
        quality.total += 1
        quality.by_trap[item.trap] += 1
        swapped = result if isinstance(result, Swapped) else None
        if item.expected in ("skip", "none"):
            if swapped is None:
                quality.exact += 1
                quality.exact_by_trap[item.trap] += 1
            else:
                quality.wrong += 1
                quality.wrong_lines.append(
                    f"{item.line} [{item.trap}] must be left out: {item.prompt!r} -> {swapped.variants}"
                )
            continue
        if swapped is None:
            quality.skipped += 1
            quality.skipped_lines.append(f"{item.line} [{item.trap}] {item.prompt!r}: {result.reason}")
        elif _same(swapped.variants.get("female"), item.female) and _same(
            swapped.variants.get("male"), item.male
        ):
            quality.exact += 1
            quality.exact_by_trap[item.trap] += 1
        else:
            quality.wrong += 1
            got = {g: swapped.variants.get(g) for g in ("female", "male")}
            quality.wrong_lines.append(
                f"{item.line} [{item.trap}] expected {item.female!r} / {item.male!r}, got {got}"
            )
        if item.nonbinary:
            quality.nonbinary_expected += 1
        written = swapped.variants.get("nonbinary") if swapped else None
        if written is not None:
            if item.nonbinary and _same(written, item.neutral):
                quality.nonbinary_right += 1
            else:
                quality.nonbinary_wrong += 1
                quality.wrong_lines.append(
                    f"{item.line} [{item.trap}] nonbinary expected {item.neutral!r}, got {written!r}"
                )
    return quality


def _same(got: str | None, expected: str | None) -> bool:
    """The same text, a first name standing for any name of its gender: a name's counterpart is
    drawn from the lexicon, the label names one of them ("Sarah" for John's female variant)."""
    return got is not None and expected is not None and _names_as_gender(got) == _names_as_gender(expected)


def _names_as_gender(text: str) -> str:
    names = first_names()
    out, at = [], 0
    for word in words(text):
        base = word.text.split("'")[0].split("’")[0]
        gender = names.gender.get(base.lower()) if base[:1].isupper() else None
        if gender in ("female", "male"):
            out += [text[at : word.start], f"<{gender}>", word.text[len(base) :]]
            at = word.end
    return "".join(out) + text[at:]
