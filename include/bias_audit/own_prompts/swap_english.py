"""An English prompt's references to a person's gender, turned female, male and (where it can be
written correctly) nonbinary: the variants of a counterfactual case (own_prompts/from_prompts.py).

What it turns, every other word untouched (lexicon: ``lexicons/swap_en.yaml``):

- pronouns by their role: "her" is "his" before a noun ("her book") and "him" as an object ("to
  her", "ask her about", "her."); "his" is "her" before a noun and "hers" standing alone; hers,
  herself, she/he with their contractions (she's, he'd);
- gendered nouns and titles (wife/husband, actress/actor, chairwoman/chairman, Mrs./Ms./Mr.), case,
  plurals and possessives kept, and "a"/"an" before them made to fit;
- first names, consistently within the prompt, for a name of the other gender (of the same race
  where Bloomberg's lists give the name one; first_names.yaml); names given to both are kept.

The nonbinary variant uses they/them with the verb made to agree ("she works" -> "they work",
"is she" -> "are they") and the neutral nouns (spouse, parent); it is left out, with the reason,
where a word has no neutral form, the prompt names someone, or a later verb might agree with the
pronoun ("she writes code and tests it").

A prompt is left out with the reason (never guessed at) when a reference cannot be swapped safely:
"her" after a verb that takes two objects ("give her feedback": him or his?), a word with no
counterpart (pregnant), people of both genders (which one would change?), or a capitalised word
where a first name would stand that the lexicon does not know ("Priya asked ..."). ``force`` swaps
every reference anyway (the first two still left out: no swap of them is right).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml

from bias_audit.own_prompts.swap_text import (
    Left,
    Reading,
    Swapped,
    apostrophe,
    between,
    cased,
    first_names,
    rebuild,
)

GENDERS = ("female", "male", "nonbinary")
_PRONOUNS = {
    "she": ("female", "subject"),
    "he": ("male", "subject"),
    "her": ("female", "her"),
    "him": ("male", "object"),
    "his": ("male", "his"),
    "hers": ("female", "predicate"),
    "herself": ("female", "reflexive"),
    "himself": ("male", "reflexive"),
}
_FORMS = {
    "subject": {"female": "she", "male": "he", "nonbinary": "they"},
    "object": {"female": "her", "male": "him", "nonbinary": "them"},
    "possessive": {"female": "her", "male": "his", "nonbinary": "their"},
    "predicate": {"female": "hers", "male": "his", "nonbinary": "theirs"},
    "reflexive": {"female": "herself", "male": "himself", "nonbinary": "themself"},
}
_TITLES = {"mrs": "female", "ms": "female", "miss": "female", "mr": "male"}
_TITLE_FORMS = {"female": "Ms", "male": "Mr", "nonbinary": "Mx"}


def plural(word: str, irregular: dict[str, str]) -> str:
    if word in irregular:
        return irregular[word]
    if " " in word:
        head, last = word.rsplit(" ", 1)
        return f"{head} {plural(last, irregular)}"
    for ending, many in (("woman", "women"), ("man", "men"), ("person", "people")):
        if word.endswith(ending):
            return word[: -len(ending)] + many
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


@dataclass(frozen=True)
class _Noun:
    forms: dict[str, str | None]  # gender -> singular form (nonbinary may be None)
    gender: str  # the gender this form names
    plural: bool
    one_way: bool = False  # a female form whose male form is everyone's word (hostess -> host)

    def to(self, gender: str, irregular: dict[str, str]) -> str | None:
        word = self.forms.get(gender)
        if word is None:
            return None
        return plural(word, irregular) if self.plural else word


class _Lexicon:
    def __init__(self, data: dict) -> None:
        self.plurals: dict[str, str] = data["plurals"]
        self.nouns: dict[str, _Noun] = {}
        for female, male, neutral in data["pairs"]:
            forms = {"female": female, "male": male, "nonbinary": neutral}
            for gender in ("female", "male"):
                word = forms[gender]
                self.nouns[word] = _Noun(forms, gender, False)
                self.nouns.setdefault(plural(word, self.plurals), _Noun(forms, gender, True))
        for female, male in data["one_way"].items():
            forms = {"female": female, "male": male, "nonbinary": male}
            self.nouns[female] = _Noun(forms, "female", False, True)
            self.nouns[plural(female, self.plurals)] = _Noun(forms, "female", True, True)
        self.unsafe: dict[str, str] = data["unsafe"]
        self.doubled = [tuple(d) for d in data["doubled"]]
        self.object_next = set(data["object_next"])
        self.ditransitive = set(data["ditransitive"])
        self.adverbs = set(data["adverbs"])
        self.unchanged_verbs = set(data["unchanged_verbs"])
        self.irregular_verbs: dict[str, str] = data["irregular_verbs"]
        self.not_names = set(data["not_names"])
        self.name_before = set(data["name_before"])
        self.name_after = set(data["name_after"])
        self.place_before = set(data["place_before"])


@functools.cache
def lexicon() -> _Lexicon:
    text = (resources.files("bias_audit.own_prompts") / "lexicons" / "swap_en.yaml").read_text("utf-8")
    return _Lexicon(yaml.safe_load(text))


def _split(lower: str) -> tuple[str, str]:
    """A word and its clitic: "she's" -> ("she", "'s"), "wife's" -> ("wife", "'s")."""
    for ending in ("'s", "'d", "'ll", "'ve", "'re", "'m"):
        if lower.endswith(ending) and len(lower) > len(ending):
            return lower[: -len(ending)], ending
    return lower, ""


@dataclass
class _Reference:
    index: int
    kind: str  # pronoun, noun, title, name
    gender: str
    role: str = ""  # a pronoun's role; a noun's entry is in ``noun``
    noun: _Noun | None = None
    clitic: str = ""


def swap_english(
    text: str, *, force: bool = False, names: dict[str, str] | None = None, race: bool = False
) -> Swapped | Left:
    """The prompt's female, male and nonbinary variants, or why it is left out.

    ``names``: first names the team gives, lower case, to female or male (added to the lexicon's).
    ``race``: a name's counterpart must be of the same race (Bloomberg's lists), recorded as the
    case's ``race`` attribute; a name whose race is unknown leaves the prompt out."""
    return _Swapper(text, force=force, names=names or {}, race=race).swap()


class _Swapper(Reading):
    def __init__(self, text: str, *, force: bool, names: dict[str, str], race: bool) -> None:
        super().__init__(text, force=force)
        self.extra_names = {k.lower(): v for k, v in names.items()}
        self.race = race
        self.lex = lexicon()
        self.names = first_names()

    # -- reading ------------------------------------------------------------------------------
    def _doubled_indices(self) -> set[int]:
        found: set[int] = set()
        for first, middle, last in self.lex.doubled:
            for i in range(len(self.tokens) - 1):
                if self.lower(i) != first:
                    continue
                if middle == "/":
                    gap = between(self.text, self.tokens, i + 1).strip()
                    if gap == "/" and self.lower(i + 1) == last:
                        found |= {i, i + 1}
                elif self.lower(i + 1) == middle and self.lower(i + 2) == last:
                    found |= {i, i + 2}
        return found

    def _gender_of_name(self, lower: str) -> str | None:
        return self.extra_names.get(lower) or self.names.gender.get(lower)

    def references(self) -> list[_Reference] | Left:
        doubled = self._doubled_indices()
        if doubled:
            shown = sorted({self.tokens[i].text for i in doubled})
            self.notes.append(f"doubled forms left as written: {', '.join(shown)}")
        found: list[_Reference] = []
        for i, word in enumerate(self.tokens):
            if i in doubled:
                continue
            lower = word.lower
            base, clitic = _split(lower)
            if base in self.lex.unsafe or lower in self.lex.unsafe:
                why = f"'{word.text}': {self.lex.unsafe.get(lower) or self.lex.unsafe[base]}"
                if refused := self.refuse(why, "kept as written"):
                    return refused
                continue
            if lower in _PRONOUNS or (base in ("she", "he") and clitic in ("'s", "'d", "'ll")):
                gender, role = _PRONOUNS[base]
                found.append(_Reference(i, "pronoun", gender, role, clitic=clitic))
            elif base in _TITLES and word.text[0].isupper() and self._title(i, base):
                found.append(_Reference(i, "title", _TITLES[base], clitic=clitic))
            elif (noun := self.lex.nouns.get(base) or self.lex.nouns.get(lower)) is not None:
                found.append(
                    _Reference(
                        i, "noun", noun.gender, noun=noun, clitic="" if lower in self.lex.nouns else clitic
                    )
                )
            elif word.text[0].isupper() and not self._place(i) and (gender := self._gender_of_name(base)):
                if gender == "unisex":
                    self.notes.append(f"{word.text} is a name given to women and men: kept")
                else:
                    found.append(_Reference(i, "name", gender, clitic=clitic))
        return found

    def _place(self, i: int) -> bool:
        """A capitalised word where a place stands ("in Austin", "at Madison"): not a name."""
        return i > 0 and self.joined(i - 1, i) and self.lower(i - 1) in self.lex.place_before

    def _title(self, i: int, base: str) -> bool:
        """Mr, Mrs, Ms before a capitalised word; Miss only so ("Miss Lee"; "miss" is a verb)."""
        following = self.tokens[i + 1].text if i + 1 < len(self.tokens) else ""
        gap = between(self.text, self.tokens, i + 1).strip() if following else ""
        return bool(following[:1].isupper()) and gap in ("", ".") and (base != "miss" or gap == "")

    def unknown_names(self, refs: list[_Reference]) -> list[str]:
        """Capitalised words standing where a first name would ("Priya asked her ...") that the
        lexicon does not know: a swap would leave the name as it is and change its pronouns."""
        known = {r.index for r in refs}
        unknown = []
        for i, word in enumerate(self.tokens):
            base, clitic = _split(word.lower)
            if i in known or not word.text[0].isupper() or (len(word.text) > 1 and word.text.isupper()):
                continue
            if base in self.lex.not_names or base in self.lex.nouns or base in _PRONOUNS:
                continue
            if self._gender_of_name(base) or base in _TITLES:
                continue
            after = self.lower(i + 1) if self.joined(i, i + 1) else ""
            before = self.lower(i - 1) if i and self.joined(i - 1, i) else ""
            title_before = i and _split(self.lower(i - 1))[0] in _TITLES
            if title_before:
                continue  # "Mr. Okafor": the title is the reference, the surname stays
            if after in self.lex.name_after or before in self.lex.name_before or (clitic == "'s" and after):
                unknown.append(word.text)
        return unknown

    # -- writing ------------------------------------------------------------------------------
    def her_role(self, i: int) -> str:
        """ "her" before a noun is possessive, else the object; after a verb taking two objects
        and before a bare noun, either ("give her feedback"): unsafe."""
        if i + 1 >= len(self.tokens):
            return "object"
        gap = between(self.text, self.tokens, i + 1).strip()
        if gap and not any(ch.isdigit() for ch in gap):
            return "object"
        following = self.lower(i + 1)
        if following in self.lex.object_next:
            return "object"
        if following.endswith("ly") and (
            not self.joined(i + 1, i + 2) or self.lower(i + 2) in self.lex.object_next
        ):
            return "object"  # "tell her directly", "ask her politely to"
        if i and self.joined(i - 1, i) and self.lower(i - 1) in self.lex.ditransitive:
            return "unsafe"
        return "possessive"

    def his_role(self, i: int) -> str:
        if i + 1 >= len(self.tokens) or between(self.text, self.tokens, i + 1).strip():
            return "predicate"
        following = self.lower(i + 1)
        return "predicate" if following in self.lex.object_next and following != "own" else "possessive"

    def swap(self) -> Swapped | Left:
        refs = self.references()
        if isinstance(refs, Left):
            return refs
        if not refs:
            return Left("none", "no reference to a person's gender: its variants would be identical")
        for ref in refs:
            if ref.kind == "pronoun" and ref.role == "her":
                ref.role = self.her_role(ref.index)
                if ref.role == "unsafe":
                    verb, following = self.tokens[ref.index - 1].text, self.tokens[ref.index + 1].text
                    why = f"'{verb} her {following}': 'her' may be 'his' or 'him' here"
                    if refused := self.refuse(why, "read as the possessive"):
                        return refused
                    ref.role = "possessive"
            elif ref.kind == "pronoun" and ref.role == "his":
                ref.role = self.his_role(ref.index)
        unknown = [] if self.force else self.unknown_names(refs)
        if problem := self.one_person([(r.index, r.gender) for r in refs], unknown):
            return problem
        counterparts = self._counterparts(refs)
        if isinstance(counterparts, Left):
            return counterparts
        variants: dict[str, str] = {}
        marks: dict[str, list[tuple[int, int]]] = {}
        for gender in GENDERS:
            replaced = self._replacements(refs, gender, counterparts)
            if replaced is None:
                continue
            variants[gender], marks[gender] = rebuild(self.text, self.tokens, replaced)
        originals = [(self.tokens[r.index].start, self.tokens[r.index].end) for r in refs]
        attributes: dict[str, str] = {}
        if self.race and counterparts:
            attributes["race"] = "/".join(sorted({race for _, race in counterparts.values()}))
            attributes["names"] = "; ".join(f"{name}={other}" for name, (other, _) in counterparts.items())
        return Swapped(
            variants,
            marks,
            [self.tokens[r.index].text for r in refs],
            list(dict.fromkeys(self.notes)),
            attributes,
            originals,
        )

    def _counterparts(self, refs: list[_Reference]) -> dict[str, tuple[str, str]] | Left:
        """Each first name's counterpart of the other gender (and its race), one per name."""
        found: dict[str, tuple[str, str]] = {}
        for ref in refs:
            if ref.kind != "name":
                continue
            word = self.tokens[ref.index]
            name = _split(word.lower)[0]
            if name in found:
                continue
            race = self.names.race.get(name)
            if self.race and (race is None or "/" in race):
                why = (
                    "is not among"
                    if race is None
                    else f"is among the names of more than one group ({race}) in"
                )
                return Left(
                    "unsafe", f"{word.text.split(chr(39))[0]} {why} Bloomberg's lists of names by race"
                )
            other = "male" if ref.gender == "female" else "female"
            counterpart = self.names.counterpart(name, other, race=race if race and "/" not in race else None)
            found[name] = (counterpart, race or "")
        return found

    def _replacements(
        self, refs: list[_Reference], gender: str, counterparts: dict[str, tuple[str, str]]
    ) -> dict[int, str] | None:
        replaced: dict[int, str] = {}
        for ref in refs:
            word = self.tokens[ref.index]
            if gender == ref.gender:
                continue
            new = self._word(ref, gender, counterparts)
            if new is None:
                return None
            replaced[ref.index] = apostrophe(word.text, cased(word.text, new))
            self._article(ref.index, new, replaced)
        if gender == "nonbinary" and not self._agree(refs, replaced):
            return None
        return replaced

    def _word(self, ref: _Reference, gender: str, counterparts: dict[str, tuple[str, str]]) -> str | None:
        word = self.tokens[ref.index]
        if ref.kind == "pronoun":
            if ref.role in ("subject",) and ref.clitic:
                return _FORMS["subject"][gender] + self._clitic(ref, gender)
            return _FORMS[ref.role][gender]
        if ref.kind == "title":
            return _TITLE_FORMS[gender] + ref.clitic
        if ref.kind == "name":
            if gender == "nonbinary":
                self.notes.append("nonbinary left out: a first name has no nonbinary counterpart")
                return None
            return counterparts[_split(word.lower)[0]][0] + ref.clitic
        assert ref.noun is not None
        new = ref.noun.to(gender, self.lex.plurals)
        if new is None:
            self.notes.append(f"nonbinary left out: no neutral word for '{word.text}'")
            return None
        return new + ref.clitic

    def _clitic(self, ref: _Reference, gender: str) -> str:
        """she's -> they're or they've (has been, has got, has done); she'd, she'll as they are."""
        if gender != "nonbinary" or ref.clitic != "'s":
            return ref.clitic
        following = self.lower(ref.index + 1)
        perfect = following in ("been", "got", "gotten", "had", "done") or following.endswith("ed")
        return "'ve" if perfect else "'re"

    def _article(self, i: int, new: str, replaced: dict[int, str]) -> None:
        """ "a"/"an" before a replaced word made to fit it: an actress -> an actor, a woman -> a person."""
        if not i or self.lower(i - 1) not in ("a", "an") or not self.joined(i - 1, i):
            return
        article = (
            "an"
            if new[:1].lower() in "aeiou" and not new.lower().startswith(("uni", "use", "eu", "one"))
            else "a"
        )
        replaced[i - 1] = cased(self.tokens[i - 1].text, article)

    def _agree(self, refs: list[_Reference], replaced: dict[int, str]) -> bool:
        """They's verbs: "she works" -> "they work", "is she" -> "are they"; False (with a note)
        where a verb of the pronoun is not read."""
        lex = self.lex
        for ref in refs:
            if ref.kind != "pronoun" or ref.role != "subject" or ref.clitic:
                continue
            i = ref.index
            if (
                i
                and self.joined(i - 1, i)
                and self.lower(i - 1) in lex.irregular_verbs
                and not self.starts_sentence(i)
            ):
                before = self.tokens[i - 1]
                replaced[i - 1] = apostrophe(
                    before.text, cased(before.text, lex.irregular_verbs[before.lower])
                )
                continue
            j = i + 1
            while self.joined(j - 1, j) and self.lower(j) in lex.adverbs:
                j += 1
            if not self.joined(j - 1, j):
                continue
            verb = self.tokens[j]
            new = _they_form(verb.lower, lex)
            if new is not None:
                replaced[j] = apostrophe(verb.text, cased(verb.text, new))
            second = self._second_verb(j)
            if second:
                self.notes.append(
                    f"nonbinary left out: '{second}' may be a second verb of '{self.tokens[i].text}', "
                    "whose agreement with they is not read"
                )
                return False
        return True

    def _second_verb(self, j: int) -> str | None:
        """A later "and/or/but + verb-s" in the same sentence ("she writes code and tests it")."""
        for k in range(j + 1, len(self.tokens) - 1):
            if self.starts_sentence(k):
                return None
            if self.lower(k) in ("and", "or", "but"):
                m = k + 1
                while self.lower(m) in self.lex.adverbs:
                    m += 1
                if _they_form(self.lower(m), self.lex) not in (None, self.lower(m)):
                    return f"{self.tokens[k].text} {self.tokens[m].text}"
        return None


def _they_form(verb: str, lex: _Lexicon) -> str | None:
    """The verb's form after "they" (None: not a verb form that changes)."""
    if verb in lex.irregular_verbs:
        return lex.irregular_verbs[verb]
    if verb in lex.unchanged_verbs or verb.endswith(("ed", "ss", "us", "is")) or len(verb) < 3:
        return None
    if not verb.endswith("s") or "'" in verb:
        return None
    if verb.endswith("ies") and verb not in ("lies", "dies", "ties"):
        return verb[:-3] + "y"
    if verb.endswith(("sses", "shes", "ches", "xes", "zes", "oes")):
        return verb[:-2]
    return verb[:-1]


__all__ = ["GENDERS", "lexicon", "swap_english"]
