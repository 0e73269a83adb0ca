"""Spanish forms ``suites from-prompts`` needs to keep agreement (own_prompts/swap_spanish.py): the
swap lexicon (``lexicons/swap_es.yaml``) joined with the detector's person nouns, adjectives and
their inflection, and the shapes of verbs that may hold an object clitic."""

from __future__ import annotations

import functools
import re
from importlib import resources

import yaml

from bias_audit.scoring.spanish_lexicon import Noun, plural
from bias_audit.scoring.spanish_lexicon import lexicon as detector_lexicon

FINITE = re.compile(
    r".{2,}(?:é|ó|aron|ieron|amos|emos|imos|aste|iste|aba|aban|ía|ían|ará|erá|irá|aría|ería|iría)$"
)
ENCLITIC = re.compile(r".{2,}(?:ar|er|ir|ando|iendo|ándo|iéndo)(?:la|lo|las|los)$")
_PARTICIPLE = re.compile(r".{2,}(?:ad|id)(?:o|a|os|as)$")


class _Lexicon:
    def __init__(self, data: dict) -> None:
        detector = detector_lexicon()
        self.determiners = {**data["determiners"], **{f: m for m, f in data["determiners"].items()}}
        self.feminine_determiners = set(data["determiners"].values())
        self.apocopes: dict[str, str] = data["apocopes"]
        self.adjectives = set(data["adjectives"])
        self.verbs = set(data["verbs"])
        self.not_agreeing = set(data["not_agreeing"])
        self.name_after = set(data["name_after"])
        self.name_before = set(data["name_before"])
        self.unsafe: dict[str, str] = data["unsafe"]
        self.pairs: dict[str, str] = {**detector.pairs, **data["pairs"]}  # masculine -> feminine
        # person nouns: the detector's, and this file's
        self.nouns: dict[str, Noun] = dict(detector.nouns)
        for masculine, feminine in data["pairs"].items():
            for word, gender in ((masculine, "m"), (feminine, "f")):
                self.nouns.setdefault(word, Noun(masculine, gender, False, "pair"))
                self.nouns.setdefault(plural(word), Noun(masculine, gender, True, "pair"))
        for word in data["epicene"]:
            self.nouns.setdefault(word, Noun(word, "e", False, "epicene"))
            self.nouns.setdefault(plural(word), Noun(word, "e", True, "epicene"))

    def adjective(self, word: str) -> tuple[str, bool] | None:
        """A word's masculine singular and whether it is plural, when it is an adjective or a
        participle that agrees."""
        many = word.endswith("s") and len(word) > 3
        one = _singular(word) if many else word
        for masculine in _masculines(one):
            if masculine in self.adjectives:
                return masculine, many
        if _PARTICIPLE.fullmatch(word) and word not in self.verbs:
            return (one[:-1] + "o" if one.endswith("a") else one), many
        return None


def _singular(word: str) -> str:
    if word.endswith("ces"):
        return word[:-3] + "z"
    if word.endswith(("oras", "ores", "eses", "ones")):
        return word[:-2]
    return word[:-1]


def _masculines(word: str) -> list[str]:
    """What a form's masculine singular may be: cansada -> cansado, trabajadora -> trabajador,
    inglesa -> inglés, amable -> amable."""
    found = [word]
    if word.endswith("a"):
        found += [word[:-1] + "o", word[:-1]]
        if word.endswith("esa"):
            found.append(word[:-3] + "és")
        if word.endswith("ona"):
            found.append(word[:-3] + "ón")
    if word.endswith("es"):
        found.append(word[:-2])
    return found


def inflect(masculine: str, gender: str, many: bool) -> str:
    """An adjective's form: cansado -> cansada, cansadas; trabajador -> trabajadora; inglés ->
    inglesa; amable, joven, líder: the same."""
    if gender == "female":
        if masculine.endswith("o"):
            word = masculine[:-1] + "a"
        elif (
            masculine.endswith(("or", "án", "ín"))
            and masculine
            not in (
                "mejor",
                "peor",
                "mayor",
                "menor",
                "superior",
                "inferior",
                "exterior",
                "interior",
                "anterior",
                "posterior",
            )
        ) or masculine.endswith(("és", "ón")):
            word = _unaccent(masculine) + "a"
        else:
            word = masculine
    else:
        word = masculine
    return plural(word) if many else word


def _unaccent(word: str) -> str:
    return word[:-2] + {"á": "a", "é": "e", "í": "i", "ó": "o", "ú": "u"}.get(word[-2], word[-2]) + word[-1]


@functools.cache
def lexicon() -> _Lexicon:
    text = (resources.files("bias_audit.own_prompts") / "lexicons" / "swap_es.yaml").read_text("utf-8")
    return _Lexicon(yaml.safe_load(text))
