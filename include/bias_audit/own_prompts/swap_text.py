"""What the English and Spanish swappers share (own_prompts/swap_english.py, own_prompts/swap_spanish.py):
words with their place in the text, case kept on a replaced word, the text rebuilt with the
replaced words' spans (the review file marks them), the first-name lexicon, and the two outcomes
of reading a prompt: its variants, or why it was left out.

Written by hand: no maintained library swaps gendered references with their grammar and says when
it cannot (LangFair and similar tools replace words from lists with no grammar, no review and no
skip); what it reads is measured on the project's labelled prompts (benchmarks/swap_quality.py).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources

import yaml

# A word, with an inner apostrophe ("she's", "ma'am", "O'Neil") and inner hyphens kept apart.
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
SENTENCE_END = re.compile(r"[.!?:;\n\"“”«»()]\s*$")


@dataclass(frozen=True)
class Word:
    text: str
    start: int
    end: int

    @property
    def lower(self) -> str:
        return self.text.lower().replace("’", "'")


def words(text: str) -> list[Word]:
    return [Word(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def between(text: str, tokens: list[Word], i: int) -> str:
    """The text between word i-1 and word i (the text's start for the first)."""
    return text[tokens[i - 1].end if i else 0 : tokens[i].start]


def starts_sentence(text: str, tokens: list[Word], i: int) -> bool:
    return i == 0 or bool(SENTENCE_END.search(between(text, tokens, i)))


class Reading:
    """A prompt's words and what stands between them, and what both swappers decide alike: a
    reference not swapped safely (left out, or under --force noted), one person or several."""

    def __init__(self, text: str, *, force: bool = False) -> None:
        self.text = text
        self.tokens = words(text)
        self.force = force
        self.notes: list[str] = []

    def refuse(self, why: str, instead: str) -> Left | None:
        """The prompt left out for ``why``; under --force, a note that ``instead`` was done."""
        if not self.force:
            return Left("unsafe", why)
        self.notes.append(f"forced (--force), {instead}: {why}")
        return None

    def one_person(self, people: list[tuple[int, str]], unknown: list[str]) -> Left | None:
        """Left out (unless --force) when a capitalised word may be a first name the lexicon does
        not know, or the prompt's references (index, gender) name people of both genders."""
        if self.force:
            return None
        if unknown:
            return Left(
                "unsafe",
                f"{', '.join(dict.fromkeys(unknown))} may be a person's first name the lexicon does not "
                "know (name it with --first-name NAME=female|male)",
            )
        if len({gender for _, gender in people}) > 1:
            shown = ", ".join(dict.fromkeys(self.tokens[i].text for i, _ in people))
            return Left("unsafe", f"people of both genders ({shown}): which of them to turn is not read")
        return None

    def lower(self, i: int) -> str:
        return self.tokens[i].lower if 0 <= i < len(self.tokens) else ""

    def joined(self, i: int, j: int) -> bool:
        """Words i and j (j = i + 1) stand together with only spaces between them."""
        return i >= 0 and j < len(self.tokens) and not between(self.text, self.tokens, j).strip()

    def gap(self, i: int) -> str:
        """What stands between word i-1 and word i besides spaces (".", "," ...)."""
        return between(self.text, self.tokens, i).strip() if 0 < i < len(self.tokens) else ""

    def starts_sentence(self, i: int) -> bool:
        return starts_sentence(self.text, self.tokens, i)


def cased(like: str, word: str) -> str:
    """``word`` written in ``like``'s case: HER -> HIS, Her -> His, her -> his."""
    if len(like) > 1 and like.isupper():
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def apostrophe(like: str, word: str) -> str:
    """``word`` with the original's apostrophe (’ or ')."""
    return word.replace("'", "’") if "’" in like else word


@dataclass(frozen=True)
class Swapped:
    """A prompt with references to a person's gender: its variants (``female``, ``male``, and
    ``nonbinary`` where it can be written correctly), each with the spans of the words that differ
    from the prompt as written; the references read, and notes for the reviewer."""

    variants: dict[str, str]
    marks: dict[str, list[tuple[int, int]]]
    references: list[str]
    notes: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    # the prompt as written, with its references' spans
    original_marks: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Left:
    """A prompt that is not made into a case: ``none`` (no reference to a person's gender: its
    variants would be identical) or ``unsafe`` (a reference the swapper cannot turn safely)."""

    status: str  # "none" | "unsafe"
    reason: str


def rebuild(text: str, tokens: list[Word], replaced: dict[int, str]) -> tuple[str, list[tuple[int, int]]]:
    """The text with words replaced, and the spans of the replacements in it."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    position = 0
    length = 0
    for i in sorted(replaced):
        word = tokens[i]
        out.append(text[position : word.start])
        length += word.start - position
        new = replaced[i]
        if not new:  # a word taken out ("de la" -> "del"): with the space before it
            while out and out[-1] and out[-1][-1:].isspace():
                out[-1] = out[-1][:-1]
                length -= 1
        if new and new != word.text:
            spans.append((length, length + len(new)))
        out.append(new)
        length += len(new)
        position = word.end
    out.append(text[position:])
    return "".join(out), spans


@dataclass(frozen=True)
class FirstNames:
    """First names by gender: ``race`` where Bloomberg's lists give the name one group."""

    gender: dict[str, str]  # lower-case name -> female | male | unisex
    race: dict[str, str]  # lower-case name -> W | B | A | H (one group only)
    pools: dict[tuple[str, str], list[str]]  # (gender, race or "" or "es") -> names to draw from
    paired: dict[str, str]  # lower-case name -> its counterpart (Priya -> Raj)

    def counterpart(self, name: str, to: str, *, race: str | None, pool: str = "") -> str:
        """A name of gender ``to`` for ``name``: its listed counterpart, else one of the same race
        when it is known (the first of its groups when Bloomberg lists it for several), drawn by a
        hash of the name so that the same prompt always gets the same one."""
        if name.lower() in self.paired:
            return self.paired[name.lower()]
        race = race or self.race.get(name.lower(), "").split("/")[0]
        names = self.pools.get((to, race or pool)) or self.pools[(to, pool)]
        digest = hashlib.sha256(name.lower().encode("utf-8")).digest()
        return names[int.from_bytes(digest[:4], "big") % len(names)]


@functools.cache
def first_names() -> FirstNames:
    text = (resources.files("bias_audit.own_prompts") / "lexicons" / "first_names.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    gender: dict[str, str] = {}
    races: dict[str, set[str]] = {}
    pools: dict[tuple[str, str], list[str]] = {}
    for sex in ("female", "male"):
        for group, names in data["distinctive"][sex].items():
            pools[(sex, group)] = names
            for name in names:
                gender[name.lower()] = sex
                races.setdefault(name.lower(), set()).add(group)
        pools[(sex, "")] = data["common"][sex]
        pools[(sex, "es")] = data["spanish"][sex]
        for name in data["common"][sex] + data["spanish"][sex]:
            gender.setdefault(name.lower(), sex)
    for name in data["unisex"]:
        gender[name.lower()] = "unisex"
    race = {name: "/".join(sorted(groups, key="WBAH".index)) for name, groups in races.items()}
    paired = {a.lower(): b for a, b in data["paired"].items()} | {
        b.lower(): a for a, b in data["paired"].items()
    }
    return FirstNames(gender, race, pools, paired)
