"""The Spanish lexicon (``lexicons/es_gender.yaml``) as the detector reads it (scoring/spanish.py):
every person noun's forms with their gender and number (plurals derived), determiners, copulas,
and the other word lists; and the detector's tokens."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import yaml

PUNCTUATION = set('.!?;:,()\n¿¡"«»')
_TOKEN = re.compile(
    r"(?:srta|sra|sr|dra|dr|dña|lcda|licda|lic|ing)\.(?=\s)"  # abbreviated titles keep their dot
    r"|[\wáéíóúüñ@]+(?:/[\wáéíóúüñ]+)*(?:\([a-z]+\))?"  # words, slashed and bracketed forms
    r"|[.!?;:,()\n¿¡\"«»]"
)


@dataclass(frozen=True)
class Noun:
    lemma: str  # the masculine singular (or the one form)
    gender: str  # "m", "f", or "e" (epicene: its determiner tells)
    plural: bool
    kind: str  # "pair", "only", "epicene", "ambiguous"
    counts: str = "both"  # epicene: which determiners count (both, masculine, feminine)


def plural(word: str) -> str:
    """The plural of a Spanish noun: vowel + s, consonant + es, z -> ces, a stressed final syllable
    losing its accent (anfitrión -> anfitriones, alemán -> alemanes)."""
    if word.endswith("z"):
        return word[:-1] + "ces"
    for stressed, plain in (("ón", "on"), ("án", "an"), ("és", "es"), ("ín", "in")):
        if word.endswith(stressed):
            return word[: -len(stressed)] + plain + "es"
    if word[-1] in "aeiouáéó":
        return word + "s"
    return word + "es"


class Lexicon:
    def __init__(self, data: dict) -> None:
        self.nouns: dict[str, Noun] = {}
        self.pairs: dict[str, str] = dict(data["pairs"])  # masculine -> feminine
        ambiguous = set(data["ambiguous"])
        for masculine, feminine in data["pairs"].items():
            kind = "ambiguous" if masculine in ambiguous else "pair"
            self._add(masculine, Noun(masculine, "m", False, kind))
            self._add(feminine, Noun(masculine, "f", False, kind))
        for gender, key in (("m", "male_only"), ("f", "female_only")):
            for word in data[key]:
                self._add(word, Noun(word, gender, False, "only"))
        for word, counts in data["epicene"].items():
            self._add(word, Noun(word, "e", False, "epicene", counts))
        self.neutral = {w for word in data["neutral_nouns"] for w in (word, plural(word))}
        self.generic_singular = set(data["generic_singular"])
        self.neutral_phrases = tuple(tuple(p.split()) for p in data["neutral_phrases"])
        self.pronouns = {w: group for group, words in data["pronouns"].items() for w in words}
        self.titles = {w: group for group, words in data["titles"].items() for w in words}
        dets = data["determiners"]
        self.determiners: dict[str, tuple[str, bool]] = {}
        for key, gender, many in (
            ("masculine", "m", False),
            ("feminine", "f", False),
            ("masculine_plural", "m", True),
            ("feminine_plural", "f", True),
            ("unmarked", "", False),
        ):
            for word in dets[key]:
                self.determiners[word] = (gender, many)
        self.prenominal = set(data["prenominal"])
        self.copulas = set(data["copulas"])
        self.reflexive_copulas = set(data["reflexive_copulas"])
        self.adverbs = set(data["adverbs"])
        self.impersonal = set(data["impersonal"])
        self.not_adjectives = set(data["not_adjectives"])
        self.inclusive_words = set(data["inclusive_words"])
        self.clause_words = set(data["clause_words"])

    def _add(self, word: str, noun: Noun) -> None:
        self.nouns.setdefault(word, noun)
        many = plural(word)
        self.nouns.setdefault(many, Noun(noun.lemma, noun.gender, True, noun.kind, noun.counts))


@functools.cache
def lexicon() -> Lexicon:
    text = (resources.files("bias_audit.scoring") / "lexicons" / "es_gender.yaml").read_text("utf-8")
    return Lexicon(yaml.safe_load(text))


def tokens(text: str) -> list[str]:
    return [t.removesuffix(".") if len(t) > 1 else t for t in _TOKEN.findall(text.lower())]
