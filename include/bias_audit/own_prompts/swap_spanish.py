"""A Spanish prompt's references to a person's gender, turned female and male with their agreement:
"la enfermera cansada" -> "el enfermero cansado", "una buena médica" -> "un buen médico", "del
jefe" -> "de la jefa", "está agotada" -> "está agotado"; an epicene noun changes its determiner only
("la periodista" -> "el periodista"); él/ella, titles (Sra./Sr., doña/don) and first names too.

The person nouns, determiners and copulas are the detector's (scoring/lexicons/es_gender.yaml);
the adjectives, verbs and determiner pairs it needs besides are in ``lexicons/swap_es.yaml``
(own_prompts/spanish_forms.py reads both).
Anything it cannot make agree is left out with the reason, never guessed at: a word after the
person that ends like an adjective but is in neither list ("la enfermera simpatiquísima"), an
object clitic that may be the person ("la llamé", "contratarla"), a noun with no counterpart
(embarazada), people of both genders. No nonbinary variant: Spanish has no agreed neutral form
(elle, -e are proposals), so it is left out and said so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bias_audit.own_prompts.spanish_forms import ENCLITIC, FINITE, inflect, lexicon
from bias_audit.own_prompts.swap_text import (
    Left,
    Reading,
    Swapped,
    cased,
    first_names,
    rebuild,
)
from bias_audit.scoring.spanish_lexicon import lexicon as detector_lexicon
from bias_audit.scoring.spanish_lexicon import plural

# Determiners before which a masculine singular may be everyone's word ("un desarrollador").
_GENERIC_DETERMINERS = {"un", "el", "al", "del", "algún", "ningún", "otro", "cada"}
_PRONOUNS = {"ella": ("female", "él"), "él": ("male", "ella"), "ellas": ("female", "ellos")}
_TITLES = {
    "sra": "sr",
    "srta": "sr",
    "dra": "dr",
    "sr": "sra",
    "dr": "dra",
    "dña": "don",
    "lcda": "lcdo",
    "lcdo": "lcda",
}
_TITLE_GENDER = {"sra": "female", "srta": "female", "dra": "female", "dña": "female", "lcda": "female"}


@dataclass
class _Person:
    index: int
    gender: str
    kind: str  # noun, epicene, pronoun, title, name
    lemma: str = ""
    plural: bool = False


def swap_spanish(text: str, *, force: bool = False, names: dict[str, str] | None = None) -> Swapped | Left:
    """The prompt's female and male variants (agreement kept), or why it is left out."""
    return _Swapper(text, force=force, names={k.lower(): v for k, v in (names or {}).items()}).swap()


class _Swapper(Reading):
    def __init__(self, text: str, *, force: bool, names: dict[str, str]) -> None:
        super().__init__(text, force=force)
        self.extra_names = names
        self.lex = lexicon()
        self.detector = detector_lexicon()
        self.names = first_names()
        self.notes.append("nonbinary left out: Spanish has no agreed neutral form (elle, -e are proposals)")
        self.replaced: dict[str, dict[int, str]] = {"female": {}, "male": {}}
        self.agreeing: set[int] = set()

    # -- finding the person --------------------------------------------------------------------
    def determiner_of(self, i: int) -> int | None:
        j = i - 1
        while j >= 0 and not self.gap(j + 1) and self.lower(j) in self.detector.prenominal:
            j -= 1
        if (
            j >= 0
            and not self.gap(j + 1)
            and (self.lower(j) in self.lex.determiners or self.lower(j) in ("del", "al"))
        ):
            return j
        return None

    def people(self) -> list[_Person] | Left:
        found: list[_Person] = []
        doubled = self.doubled()
        if doubled:
            shown = " ".join(self.tokens[i].text for i in sorted(doubled))
            self.notes.append(f"doubled forms left as written: {shown}")
        for i, word in enumerate(self.tokens):
            w = word.lower
            if i in doubled:
                continue
            if w in self.lex.unsafe:
                if refused := self.refuse(f"'{word.text}': {self.lex.unsafe[w]}", "kept as written"):
                    return refused
                continue
            if w in _PRONOUNS:
                found.append(_Person(i, _PRONOUNS[w][0], "pronoun"))
                continue
            if w in _TITLES and word.text[0].isupper() and self.gap(i + 1) in (".", ""):
                found.append(_Person(i, _TITLE_GENDER.get(w, "male"), "title"))
                continue
            noun = self.lex.nouns.get(w)
            if noun is not None:
                person = self._noun(i, w, noun)
                if isinstance(person, Left):
                    return person
                if person is not None:
                    found.append(person)
                continue
            if (word.text[0].isupper() and i and not self.starts_sentence(i)) or word.text[0].isupper():
                gender = self.extra_names.get(w) or self.names.gender.get(w)
                if gender in ("female", "male"):
                    found.append(_Person(i, gender, "name"))
                elif gender == "unisex":
                    self.notes.append(f"{word.text} is a name given to women and men: kept")
        return found

    def _noun(self, i: int, w: str, noun) -> _Person | Left | None:
        if self.lower(i - 1) in self.detector.neutral and self.joined(i - 1, i):
            return None  # "una persona ingeniera": it agrees with "persona", which says nothing
        det = self.determiner_of(i)
        det_gender = (
            None
            if det is None
            else ("female" if self.lower(det) in self.lex.feminine_determiners else "male")
        )
        if noun.kind == "only":
            return Left("unsafe", f"'{self.tokens[i].text}' has no counterpart of the other gender")
        if noun.kind == "epicene":
            if det_gender is None:
                return None  # "como periodista": no gender said
            if noun.counts != "both" and noun.counts != (
                "feminine" if det_gender == "female" else "masculine"
            ):
                return None  # "la policía" is the force
            return _Person(i, det_gender, "epicene", noun.lemma, noun.plural)
        gender = "female" if noun.gender == "f" else "male"
        if noun.plural and gender == "male":
            return None  # "los médicos": a generic masculine plural
        if noun.kind == "ambiguous" and not self._person_meant(i):
            return None  # "la nueva política" is a policy, "la química" may be the field
        return _Person(i, gender, "noun", noun.lemma, noun.plural)

    def _generic_determiner(self, i: int) -> bool:
        det = self.determiner_of(i)
        return det is not None and self.lower(det) in _GENERIC_DETERMINERS

    def _person_meant(self, i: int) -> bool:
        """A noun that also names a thing ("política", "química") is a person after a copula or
        "como", or when a verb follows it ("la química analizó")."""
        if self.lower(i - 1) in ("como", *self.detector.copulas):
            return True
        after = self.lower(i + 1) if self.joined(i, i + 1) else ""
        return after in self.lex.verbs or bool(FINITE.fullmatch(after))

    def doubled(self) -> set[int]:
        """Doubled forms that already name both genders ("los y las docentes", "el/la gerente",
        "empleado o empleada"): left as written, and not a reference."""
        found: set[int] = set()
        for i in range(len(self.tokens) - 1):
            slash = self.gap(i + 1) == "/"
            joined = self.lower(i + 1) in ("y", "e", "o", "u") and self.joined(i, i + 1)
            if not (slash or joined):
                continue
            last = i + 1 if slash else i + 2
            a, b = self.lower(i), self.lower(last)
            opposite_dets = a in self.lex.determiners and self.lex.determiners.get(a) == b
            first, second = self.lex.nouns.get(a), self.lex.nouns.get(b)
            opposite_nouns = bool(
                first and second and first.lemma == second.lemma and first.gender != second.gender
            )
            if not (opposite_dets or opposite_nouns):
                continue
            found |= set(range(i, last + 1))
            j = last + 1
            while j < len(self.tokens) and self.lower(j) in self.detector.prenominal:
                j += 1
            if opposite_dets and self.lower(j) in self.lex.nouns:
                found.add(j)
        return found

    def unknown_names(self, known: set[int]) -> list[str]:
        unknown = []
        for i, word in enumerate(self.tokens):
            if i in known or not word.text[0].isupper() or word.text.isupper():
                continue
            w = word.lower
            if (
                w in self.lex.nouns
                or w in self.lex.determiners
                or self.names.gender.get(w)
                or w in self.extra_names
            ):
                continue
            after = self.lower(i + 1) if self.joined(i, i + 1) else ""
            before = self.lower(i - 1) if i and self.joined(i - 1, i) else ""
            if self.lower(i - 1) in _TITLES or self.lower(i - 1) in self.lex.nouns:
                continue  # "la Sra. García", "la doctora López": the title is the reference
            if after in self.lex.name_after or before in self.lex.name_before:
                unknown.append(word.text)
        return unknown

    def clitics(self) -> list[tuple[int, str]]:
        """Object clitics that may be the person ("la llamé", "lo contrataron", "contratarla"),
        each with the reason it is not turned."""
        found = []
        for i, word in enumerate(self.tokens):
            w = word.lower
            if w in ("la", "lo", "las", "los") and self.joined(i, i + 1):
                nxt = self.lower(i + 1)
                if nxt not in self.lex.nouns and (nxt in self.lex.verbs or FINITE.fullmatch(nxt)):
                    shown = f"{word.text} {self.tokens[i + 1].text}"
                    found.append((i, f"'{shown}': '{word.text}' may be the person as an object"))
            elif ENCLITIC.fullmatch(w) and w not in self.lex.nouns:
                found.append((i, f"'{word.text}' may hold the person as an object"))
        return found

    def turn_clitic(self, i: int, gender_written: str) -> None:
        """--force: the clitic turned with the person (la <-> lo, contratarla <-> contratarlo)."""
        w = self.lower(i)
        ending = next(e for e in ("las", "los", "la", "lo") if w.endswith(e))
        other = {"la": "lo", "lo": "la", "las": "los", "los": "las"}[ending]
        turned = w[: -len(ending)] + other
        feminine = ending in ("la", "las")
        if (gender_written == "female") == feminine:
            self.set(i, *((w, turned) if feminine else (turned, w)))

    # -- writing ---------------------------------------------------------------------------------
    def set(self, i: int, female: str, male: str) -> None:
        word = self.tokens[i].text
        for gender, new in (("female", female), ("male", male)):
            if new.lower() != word.lower():
                self.replaced[gender][i] = cased(word, new) if new else ""

    def turn_determiner(self, det: int, gender_written: str, noun_index: int) -> None:
        """The determiner (and prenominal adjectives) before a person's noun, in both genders."""
        w = self.lower(det)
        for j in range(det + 1, noun_index):  # "una buena", "el nuevo"
            self.turn_adjective(j, prenominal=True)
        if w in ("del", "al"):  # "del jefe" -> "de la jefa"
            self.replaced["female"][det] = cased(self.tokens[det].text, ("de la" if w == "del" else "a la"))
            return
        other = self.lex.determiners[w]
        female, male = (w, other) if gender_written == "female" else (other, w)
        if male in ("el",) and self.lower(det - 1) in ("de", "a") and self.joined(det - 1, det):
            contracted = "del" if self.lower(det - 1) == "de" else "al"
            prep = self.tokens[det - 1].text
            if gender_written == "female":  # "de la jefa" -> "del jefe"
                self.replaced["male"][det - 1] = cased(prep, contracted)
                self.replaced["male"][det] = ""
                return
        self.set(det, female, male)

    def turn_adjective(self, j: int, *, prenominal: bool = False) -> bool:
        w = self.lower(j)
        if w in self.lex.apocopes.values():  # buen, primer
            full = next(k for k, v in self.lex.apocopes.items() if v == w)
            self.set(j, inflect(full, "female", False), w)
            self.agreeing.add(j)
            return True
        found = self.lex.adjective(w)
        if found is None:
            return False
        masculine, many = found
        male = inflect(masculine, "male", many)
        if prenominal and not many and masculine in self.lex.apocopes:
            male = self.lex.apocopes[masculine]
        self.set(j, inflect(masculine, "female", many), male)
        self.agreeing.add(j)
        return True

    def after_noun(self, i: int) -> Left | None:
        """Adjectives right after the person's noun agree with it ("la enfermera cansada y
        contenta"); a word there that ends like one but is in neither list is not guessed at."""
        j = i + 1
        while (j < len(self.tokens) and self.joined(j - 1, j)) or (
            j < len(self.tokens) and self.gap(j) == "," and self.lower(j + 1) in ("y", "e")
        ):
            w = self.lower(j)
            if w in ("y", "e") and j > i + 1 and j - 1 in self.agreeing:
                j += 1
                continue
            if w in self.detector.adverbs and w not in ("no", "ya") and self.joined(j, j + 1):
                j += 1  # "una candidata muy preparada"
                continue
            if self.turn_adjective(j):  # before the nouns: "joven" is both
                j += 1
                continue
            if (
                w in self.lex.not_agreeing
                or w in self.lex.verbs
                or w in self.lex.nouns
                or FINITE.fullmatch(w)
            ):
                return None
            if re.fullmatch(r".+[oa]s?", w) and w not in self.detector.not_adjectives:
                shown = f"'{self.tokens[j].text}' after '{self.tokens[i].text}'"
                return self.refuse(
                    f"{shown}: whether it agrees with the person is not read", "kept as written"
                )
            return None
        return None

    def predicates(self, people: list[_Person]) -> Left | None:
        """An adjective or participle after a copula whose subject is the person ("está cansada",
        "se siente orgullosa", "fue elegida"); not when the clause names another subject."""
        positions = {p.index for p in people}
        for i, word in enumerate(self.tokens):
            w = word.lower
            copula = w in self.detector.copulas or (
                w in self.detector.reflexive_copulas and self.lower(i - 1) in ("se", "me", "te")
            )
            if not copula or self._other_subject(i, positions):
                continue
            j = i + 1
            while self.joined(j - 1, j) and self.lower(j) in self.detector.adverbs:
                j += 1
            if not self.joined(j - 1, j) or j in positions:
                continue
            after = self.lower(j + 1)
            if after == "que" or re.fullmatch(r"[a-záéíóúñ]{2,}(?:ar|er|ir)", after or "-"):
                continue  # impersonal: "es necesario estudiar"
            inverted = after in self.lex.determiners and j + 2 in positions  # "¿Está lista la candidata?"
            followed = (
                self.joined(j, j + 1) and after not in self.lex.not_agreeing and after not in ("y", "e")
            )
            if followed and not inverted:
                continue  # "es buena idea": the adjective is the next noun's
            while True:
                if not self.turn_adjective(j):
                    break
                if (
                    self.lower(j + 1) in ("y", "e")
                    and self.joined(j, j + 1)
                    and self.lex.adjective(self.lower(j + 2))
                ):
                    j += 2
                    continue
                break
        return None

    def _other_subject(self, i: int, positions: set[int]) -> bool:
        """The copula's clause names a subject other than the person ("la reunión está ...")."""
        j = i - 1
        while (
            j >= 0
            and not self.starts_sentence(j + 1)
            and self.lower(j) not in self.detector.clause_words
            and self.lower(j) != "que"
        ):
            if j in positions:
                return False
            if self.lower(j) in self.lex.determiners and j + 1 < i and j + 1 not in positions:
                return True
            j -= 1
        return False

    def swap(self) -> Swapped | Left:
        people = self.people()
        if isinstance(people, Left):
            return people
        if not people:
            return Left("none", "no reference to a person's gender: its variants would be identical")
        unknown = [] if self.force else self.unknown_names({p.index for p in people})
        if problem := self.one_person([(p.index, p.gender) for p in people], unknown):
            return problem
        for i, why in self.clitics():
            if refused := self.refuse(why, "turned with the person"):
                return refused
            self.turn_clitic(i, people[0].gender)
        masculine = [
            p for p in people if p.gender == "male" and p.kind in ("noun", "epicene") and not p.plural
        ]
        generic = [p for p in masculine if self._generic_determiner(p.index)]
        if generic and len(masculine) == len(people):  # "un desarrollador", not "mi hermano"
            shown = self.tokens[generic[0].index].text
            self.notes.append(
                f"'{shown}' may be read as everyone's word (the generic masculine): the male variant may "
                "then be heard as unmarked"
            )
        counterparts: dict[str, str] = {}
        for person in people:
            problem = self._turn(person, counterparts)
            if problem is not None:
                return problem
        problem = self.predicates(people)
        if problem is not None:
            return problem
        variants, marks = {}, {}
        for gender in ("female", "male"):
            variants[gender], marks[gender] = rebuild(self.text, self.tokens, self.replaced[gender])
        originals = [(self.tokens[p.index].start, self.tokens[p.index].end) for p in people]
        return Swapped(
            variants,
            marks,
            [self.tokens[p.index].text for p in people],
            list(dict.fromkeys(self.notes)),
            {},
            originals,
        )

    def _turn(self, person: _Person, counterparts: dict[str, str]) -> Left | None:
        i, word = person.index, self.tokens[person.index]
        w = word.lower
        if person.kind == "pronoun":
            self.set(i, *((w, _PRONOUNS[w][1]) if person.gender == "female" else (_PRONOUNS[w][1], w)))
            return None
        if person.kind == "title":
            other = _TITLES[w]
            self.set(i, *((w, other) if person.gender == "female" else (other, w)))
            if i and self.joined(i - 1, i) and self.lower(i - 1) in ("la", "el"):  # "la Sra." -> "el Sr."
                self.turn_determiner(i - 1, person.gender, i)
            return None
        if person.kind == "name":
            if w not in counterparts:
                other = "male" if person.gender == "female" else "female"
                counterparts[w] = self.names.counterpart(w, other, race=None, pool="es")
            self.set(i, *((w, counterparts[w]) if person.gender == "female" else (counterparts[w], w)))
            return None
        if person.kind == "noun":
            lemma = person.lemma
            female = self.lex.pairs[lemma]
            forms = (plural(female), plural(lemma)) if person.plural else (female, lemma)
            self.set(i, *forms)
        det = self.determiner_of(i)
        if det is not None:
            self.turn_determiner(det, person.gender, i)
        return self.after_noun(i)


__all__ = ["inflect", "swap_spanish"]
