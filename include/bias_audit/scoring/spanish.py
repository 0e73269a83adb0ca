"""The gender a Spanish answer takes a person to have, read from agreement.

Spanish marks gender on the words around a person, not only on pronouns: "la ingeniera está
cansada", "un buen líder", "está agotada" (with no subject at all). English word lists would read
none of that, and would misread what Spanish does not mark: "los médicos" is a generic masculine
plural, not a man; "la persona" is grammatically feminine and says nothing of the person; "el/la
periodista" is one noun whose gender only its determiner shows. No Spanish parser installs here
(the spaCy models stop at spaCy 3.1; stanza downloads its models at run time), so the detector is
rules over the lexicon in ``lexicons/es_gender.yaml``, measured on the project's labelled corpus
(tests/data/es_gender_corpus.tsv, ``benchmarks/spanish_detector.py``).

What is read, in this order (a word counted once):

1. inclusive and doubled forms -> neutral: "todes", "lxs", "niñ@s", "médicos/as", "el/la",
   "los y las docentes", "ingenieros e ingenieras", "el médico o la médica", "él o ella";
2. person nouns with their determiner: a gendered noun by its own form ("la ingeniera", "su hijo",
   "trabaja como ingeniero"), an epicene noun by its determiner ("la periodista", "al periodista";
   bare "como periodista" says nothing), a masculine plural as generic (neutral), a feminine plural
   as female; a noun that also names a thing ("la química", "el equipo técnico") only where a
   person is meant (after a copula or "como", or heading a clause with a verb after it);
3. pronouns (él, ella, ellas; ellos is generic), titles (Sr., Dra., don, doña) and the suite's first
   names;
4. nouns for a person that mark no gender (persona, gente, víctima, personal, alguien) -> neutral;
5. an adjective or participle after a copula whose subject is a person or left out ("está
   cansada", "se siente orgulloso", "fue elegida"), not when the clause names another subject
   ("la reunión está cancelada", "su trabajo es agotador") nor in impersonal sentences ("es
   necesario estudiar", "es bueno que ...").

Outcome, from the counts as in English (features.assumed_gender): female, male, mixed, neutral
(generic, doubled, inclusive or unmarked persons) or none, with the evidence that decided it.
Known limits (docs/metrics.md): object clitics (la/lo) are not read, a feminine noun that names a
thing at the head of a clause is read as a person ("la técnica reparó" yes, "la policía que me
atendió" no), and a subject left out is assumed to be the person ("fue larga" of a day reads male).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bias_audit.scoring.spanish_lexicon import PUNCTUATION, Noun, lexicon, plural, tokens

__all__ = ["Evidence", "Reading", "plural", "read_gender", "tokens"]

_FIRST_PERSON = {"soy", "estoy", "somos", "estamos"}
# Nouns for a person that mark no gender but are grammatically feminine (the rest are masculine:
# individuo, alguien, personal, personaje): what an adjective agreeing with them shows.
_FEMININE_UNMARKED = {
    "persona",
    "personas",
    "gente",
    "víctima",
    "víctimas",
    "criatura",
    "criaturas",
    "plantilla",
}


# Pronouns and quantifiers with a masculine and a feminine form, as (lemma, gender, plural): the
# pairs a doubled form joins ("él o ella", "todos y todas").
_PAIRED_PRONOUNS = {
    "él": ("él", "m", False),
    "ella": ("él", "f", False),
    "ellos": ("ellos", "m", True),
    "ellas": ("ellos", "f", True),
    "todos": ("todos", "m", True),
    "todas": ("todos", "f", True),
    "nosotros": ("nos", "m", True),
    "nosotras": ("nos", "f", True),
}


@dataclass(frozen=True)
class Evidence:
    """A word (with its determiner or copula) that counted, the group it counted for and the rule."""

    words: str
    group: str  # female, male or neutral
    rule: str


@dataclass(frozen=True)
class Reading:
    female: int
    male: int
    neutral: int
    evidence: tuple[Evidence, ...]

    @property
    def assumed(self) -> str:
        if self.male and not self.female:
            return "male"
        if self.female and not self.male:
            return "female"
        if self.male and self.female:
            return "mixed"
        return "neutral" if self.neutral else "none"

    def fields(self) -> dict[str, int | str]:
        """As the features of an answer read it: the counts, the outcome, the evidence joined."""
        evidence = "; ".join(e.words for e in self.evidence)
        return {"female": self.female, "male": self.male, "neutral": self.neutral, "assumed": self.assumed,
                "evidence": evidence}  # fmt: skip


class _Reader:
    """One pass over one text's tokens; ``used`` marks the words already counted."""

    def __init__(self, words: list[str], names: Mapping[str, str]) -> None:
        self.lex = lexicon()
        self.words = words
        self.names = names
        self.used: set[int] = set()
        self.evidence: list[Evidence] = []
        self.mentions: list[tuple[int, str, str, str]] = []  # (where, rule, last word, group) of each count

    # -- helpers ---------------------------------------------------------------------------------
    def word(self, i: int) -> str:
        return self.words[i] if 0 <= i < len(self.words) else ""

    def boundary(self, i: int) -> bool:
        w = self.word(i)
        return i < 0 or w in PUNCTUATION or w in self.lex.clause_words

    def count(self, first: int, last: int, group: str, rule: str) -> None:
        self.used.update(range(first, last + 1))
        self.evidence.append(Evidence(" ".join(self.words[first : last + 1]), group, rule))
        self.mentions.append((last, rule, self.words[last], group))

    def is_copula(self, i: int) -> bool:
        w = self.word(i)
        return w in self.lex.copulas or (
            w in self.lex.reflexive_copulas and self.word(i - 1) in ("se", "me", "te")
        )

    def after_copula(self, i: int) -> bool:
        """Whether word i follows a copula or "como", adverbs between."""
        j = i - 1
        while self.word(j) in self.lex.adverbs:
            j -= 1
        return self.is_copula(j) or self.word(j) == "como"

    def determiner_of(self, i: int) -> int | None:
        """The index of the determiner of the noun at i, across up to two prenominal words."""
        j = i - 1
        for _ in range(3):
            if self.word(j) in self.lex.determiners:
                return j
            if self.word(j) not in self.lex.prenominal:
                return None
            j -= 1
        return None

    # -- 1. inclusive and doubled forms -----------------------------------------------------------
    def inclusive(self) -> None:
        for i, w in enumerate(self.words):
            if i in self.used:
                continue
            if self._inclusive_form(w):
                before = self.word(i - 1)
                joined = before in ("les", "lxs", "l@s") or before in self.lex.determiners or "/" in before
                first = i - 1 if joined and i - 1 not in self.used else i
                self.count(first, i, "neutral", "inclusive")
        for i in range(len(self.words)):
            if i not in self.used:
                self._doubled(i)

    def _inclusive_form(self, w: str) -> bool:
        lex = self.lex
        if w in lex.inclusive_words or "@" in w or w.endswith(("(a)", "(as)")):
            return True
        if "/" in w:
            first, second = w.split("/", 1)
            return (
                first in lex.determiners
                or first in lex.pronouns
                or first[-1:] in "o"
                or (first.endswith(("or", "os", "es")) and second.startswith("a"))
            )
        for ending, masculine in (("xs", "os"), ("x", "o"), ("es", "os"), ("e", "o")):
            if w.endswith(ending) and len(w) > len(ending) + 2:
                stem = w[: -len(ending)]
                if ending.startswith("e") and stem.endswith(("qu", "gu")):
                    stem = stem[:-2] + ("c" if stem.endswith("qu") else "g")
                candidate = stem + masculine
                noun = lex.nouns.get(candidate)
                if noun is not None and noun.gender == "m" and candidate != w:
                    return True
                if ending.startswith("x") and (candidate in lex.determiners or candidate in lex.pronouns):
                    return True
                if ending.startswith("x") and re.search(r"(?:ad|id)os?$", candidate):
                    return True
        return w in ("lxs", "lx")

    def _doubled(self, i: int) -> None:
        """Two forms of one word joined by y/e/o/u: "los y las docentes", "ingenieros e
        ingenieras", "el médico o la médica", "él o ella". Two singulars joined by "y", each with
        its determiner ("un hombre y una mujer"), are two people, read one by one."""
        lex, w = self.lex, self.word(i)
        conj = self.word(i + 1)
        if conj not in ("y", "e", "o", "u"):
            return
        j = i + 2
        det_between = self.word(j) in lex.determiners
        if det_between and self.word(j) != w:
            j += 1
        a, b = self._form(w), self._form(self.word(j))
        if w in lex.determiners and self.word(i + 2) in lex.determiners:
            ga, gb = lex.determiners[w][0], lex.determiners[self.word(i + 2)][0]
            if {ga, gb} == {"m", "f"}:
                end = i + 2
                while self.word(end + 1) in lex.prenominal or self.word(end + 1) in lex.nouns:
                    end += 1
                    if self.word(end) in lex.nouns:
                        break
                self.count(i, end, "neutral", "doubled")
            return
        if a is None or b is None or a[0] != b[0] or {a[1], b[1]} != {"m", "f"}:
            return
        plural_pair = a[2] and b[2]
        if conj in ("y", "e") and not plural_pair and (det_between or self.word(i - 1) in lex.determiners):
            return
        first = i - 1 if self.word(i - 1) in lex.determiners else i
        while (
            first - 1 >= 0 and self.word(first) in lex.prenominal and self.word(first - 1) in lex.determiners
        ):
            first -= 1
        self.count(first, j, "neutral", "doubled")

    def _form(self, w: str) -> tuple[str, str, bool] | None:
        """(lemma, gender, plural) of a gendered noun, pronoun or quantifier ("todos")."""
        noun = self.lex.nouns.get(w)
        if noun is not None and noun.gender in "mf":
            return noun.lemma, noun.gender, noun.plural
        return _PAIRED_PRONOUNS.get(w)

    # -- 2. person nouns --------------------------------------------------------------------------
    def nouns(self) -> None:
        for i, w in enumerate(self.words):
            noun = self.lex.nouns.get(w)
            if i in self.used or noun is None:
                continue
            det = self.determiner_of(i)
            group = self._noun_group(i, noun, det)
            if group is not None:
                self.count(i if det is None else det, i, group, f"noun ({noun.kind})")

    def _noun_group(self, i: int, noun: Noun, det: int | None) -> str | None:
        lex = self.lex
        det_gender, det_plural = (
            lex.determiners.get(self.word(det), ("", False)) if det is not None else ("", False)
        )
        if noun.kind == "epicene":
            gender = det_gender
            allowed = {"both": "mf", "masculine": "m", "feminine": "f"}[noun.counts]
            if not gender or gender not in allowed:
                return "neutral" if noun.plural and noun.counts == "both" else None
        else:
            gender = noun.gender
            if noun.kind == "ambiguous" and not self._person_meant(i, det):
                return None
            if det is None and not self._bare_noun_counts(i, noun):
                return None
        if noun.plural or det_plural:
            return "female" if gender == "f" else "neutral"
        if gender == "m" and noun.lemma in lex.generic_singular:
            return "neutral"  # "ayuda a un paciente": the generic masculine of whom the person serves
        if det is None and gender == "m" and self.word(i - 1) in ("ser", "estar"):
            return "neutral"  # "para ser cirujano": the generic masculine of what one may become
        return "female" if gender == "f" else "male"

    def _bare_noun_counts(self, i: int, noun: Noun) -> bool:
        """A gendered noun without a determiner names a person as a predicate ("es abogada",
        "como ingeniero"), heading a clause, with a title (don, doña) or, plural, after a
        preposition; after another noun it is an adjective ("el equipo médico")."""
        prev = self.word(i - 1)
        if noun.lemma in ("don", "señor") or self.after_copula(i) or self.boundary(i - 1):
            return True
        return noun.plural and prev in ("de", "con", "por", "para", "entre", "sin", "a", "ser")

    def _person_meant(self, i: int, det: int | None) -> bool:
        """A noun that also names a thing ("química", "técnico"): a person after a copula or
        "como" ("es química", "es una técnica"), or heading a clause with a verb after it."""
        if det is None:
            return self.after_copula(i)
        if self.after_copula(det):
            return True
        after = self.word(i + 1)
        if after in ("de", "del") or after in PUNCTUATION or self.is_copula(i + 1):
            return False  # "la química de los alimentos", "la química es una ciencia"
        # an adjective after it names a field or a thing: "la física cuántica", "el equipo técnico"
        return self.boundary(det - 1) and not after.endswith(("ica", "ico", "ada", "ado", "al", "iva", "ivo"))

    # -- 3 and 4. pronouns, titles, names, unmarked persons ---------------------------------------
    def pronouns(self) -> None:
        lex = self.lex
        verbs = {
            "es",
            "está",
            "era",
            "fue",
            "estaba",
            "tiene",
            "trabaja",
            "ha",
            "dice",
            "hace",
            "puede",
            "vive",
        }
        for i, w in enumerate(self.words):
            if i in self.used:
                continue
            if w in lex.pronouns:
                group = {"female": "female", "male": "male", "generic": "neutral"}[lex.pronouns[w]]
                if group != "neutral" and self._agrees_with_an_unmarked_noun(i, group):
                    group = "neutral"  # "la persona ... ella": the noun's gender, not the person's
                self.count(i, i, group, "pronoun")
            elif w == "el" and self.word(i + 1) in verbs:  # "él" written without its accent
                self.count(i, i, "male", "pronoun")
            elif w in lex.titles:
                self.count(i, i, lex.titles[w], "title")
            elif w in self.names:
                self.count(i, i, self.names[w], "name")
            elif w in lex.neutral:
                self.count(i, i, "neutral", "unmarked person")
        for phrase in lex.neutral_phrases:
            for i in range(len(self.words) - len(phrase) + 1):
                if tuple(self.words[i : i + len(phrase)]) == phrase and i not in self.used:
                    self.count(i, i + len(phrase) - 1, "neutral", "unmarked person")

    # -- 5. agreement after a copula --------------------------------------------------------------
    def agreement(self) -> None:
        for i in range(len(self.words)):
            if self.word(i) in _FIRST_PERSON or (
                self.word(i) in self.lex.reflexive_copulas and self.word(i - 1) == "me"
            ):
                continue  # "estoy encantado de ayudar": the model speaking of itself, not the person
            if self.is_copula(i) and self._subject_is_a_person(i):
                self._adjective_after(i)

    def _agrees_with_an_unmarked_noun(self, i: int, group: str) -> bool:
        """Whether a word with no subject of its own (an adjective after a bare copula, a pronoun)
        refers back, by its grammatical gender, to a noun that marks no gender on the person: "Es
        una persona dedicada. Está siempre pendiente ..." and "La persona ... Ella tiene ..." agree
        with "persona" (feminine) and say nothing of the person. The nearest earlier mention of
        that grammatical gender decides, as Spanish readers resolve it."""
        feminine = group == "female"
        for _, rule, word, counted in sorted((m for m in self.mentions if m[0] < i), reverse=True):
            if rule == "unmarked person":
                if (word in _FEMININE_UNMARKED) == feminine:
                    return True
            elif (counted == "female") == feminine and counted != "neutral":
                return False
        return False

    def _subject_is_a_person(self, i: int) -> bool:
        """Whether the clause before the copula leaves its subject a person: nothing, a pronoun, a
        name, or a person noun (already counted); not a determiner's phrase ("la reunión"), an
        unmarked person ("la persona") or an infinitive ("trabajar de noche es cansado")."""
        lex = self.lex
        j = i - 1 - (self.word(i) in lex.reflexive_copulas)
        while not self.boundary(j):
            w = self.word(j)
            if w in lex.determiners or w in lex.neutral or w in ("esto", "eso", "aquello", "nada", "lo"):
                return False
            if re.fullmatch(r"[a-záéíóúñ]{2,}(?:ar|er|ir)", w) and w not in lex.nouns and w not in ("ayer",):
                return False
            j -= 1
        return True

    def _adjective_after(self, i: int) -> None:
        lex = self.lex
        j = i + 1
        while self.word(j) in lex.adverbs or (self.word(j) == "un" and self.word(j + 1) == "poco"):
            j += 2 if self.word(j) == "un" else 1
        w = self.word(j)
        if j in self.used or w in lex.nouns or w in lex.neutral or w in lex.determiners:
            return
        group = self._adjective_group(w)
        while group is None and self.word(j + 1) in (",", "y", "e"):  # "es amable y muy trabajadora"
            j += 2
            while self.word(j) in lex.adverbs:
                j += 1
            w = self.word(j)
            group = None if w in lex.nouns or w in lex.determiners else self._adjective_group(w)
        if group is None:
            return
        after = self.word(j + 1)
        if (after == "que" and self.word(j - 1) != "tan") or (
            re.fullmatch(r"[a-záéíóúñ]{2,}(?:ar|er|ir)", after) and after not in lex.nouns
        ):
            return  # impersonal: "es necesario estudiar", "es bueno que ..."
        if self.word(i) in ("es", "era", "fue", "será", "sería", "sea") and w in lex.impersonal:
            return
        if self._agrees_with_an_unmarked_noun(i, group):
            return
        self.count(i, j, group, "agreement")

    def _adjective_group(self, w: str) -> str | None:
        lex = self.lex
        if len(w) < 4 or w in lex.not_adjectives or w.endswith(("ndo", "ndose", "ista", "istas")):
            return None
        if not re.fullmatch(r"[a-záéíóúñ]+", w) or w.endswith(("ma", "mas")):
            return None
        if w.endswith(("as", "doras")):
            return "female"
        if w.endswith(("os", "dores")):
            return "neutral"
        if w.endswith("a"):
            return "female"
        if w.endswith(("o", "dor")):
            return "male"
        return None

    def read(self) -> Reading:
        self.inclusive()
        self.nouns()
        self.pronouns()
        self.agreement()
        counts = {
            group: sum(e.group == group for e in self.evidence) for group in ("female", "male", "neutral")
        }
        return Reading(counts["female"], counts["male"], counts["neutral"], tuple(self.evidence))


def read_gender(text: str | None, names: Mapping[str, str] | None = None) -> Reading:
    """The gender a Spanish text takes its person to have, with the evidence.

    ``names``: first names the suite gives, lower case, to "female" or "male".

    >>> read_gender("La ingeniera está cansada.").assumed
    'female'
    >>> read_gender("Los médicos trabajan mucho; la persona encargada está agotada.").assumed
    'neutral'
    """
    if not text:
        return Reading(0, 0, 0, ())
    return _Reader(tokens(text), {k.lower(): v for k, v in (names or {}).items()}).read()
