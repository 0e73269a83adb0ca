"""How well ``bias-audit suites from-prompts`` turns a team's prompts into counterfactual cases,
on the project's labelled prompts (tests/data/swap_en.tsv: 193 English, tests/data/swap_es.tsv:
121 Spanish; 50 of them written after the rules were tuned), side by side with the naive way
(a word list swapped both ways with no grammar and no skip, as LangFair-style tools do).

    .venv/bin/python benchmarks/swap_quality.py

Prints, per language and way: the share of prompts swapped exactly right (both variants as
labelled, or a prompt that must be left out not made into a case), the share wrongly swapped (a
case whose variant is wrong, or a case made of a prompt that must be left out: worse than a skip,
it measures something other than gender), the share skipped (left out though a swap was
possible), the nonbinary variants written right, left out and wrong, accuracy per trap, and the
prompts it gets wrong or skips. Goals (issue 30): >= 98 % exactly right, 0 % wrongly swapped.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

from bias_audit.own_prompts.swap_english import swap_english
from bias_audit.own_prompts.swap_quality import Quality, read_labelled, score
from bias_audit.own_prompts.swap_spanish import swap_spanish
from bias_audit.own_prompts.swap_text import Left, Swapped, cased, rebuild, words

ROOT = Path(__file__).resolve().parents[1]
# The naive way: every listed word swapped for its counterpart, whatever its role or neighbours.
NAIVE = {
    "en": {
        "she": "he", "he": "she", "her": "his", "his": "her", "him": "her", "hers": "his",
        "herself": "himself", "himself": "herself", "woman": "man", "man": "woman", "women": "men",
        "men": "women", "wife": "husband", "husband": "wife", "mother": "father", "father": "mother",
        "daughter": "son", "son": "daughter", "sister": "brother", "brother": "sister", "girl": "boy",
        "boy": "girl", "mrs": "mr", "ms": "mr", "mr": "ms", "actress": "actor", "actor": "actress",
        "waitress": "waiter", "waiter": "waitress", "female": "male", "male": "female",
        "grandmother": "grandfather", "grandfather": "grandmother", "aunt": "uncle", "uncle": "aunt",
        "girlfriend": "boyfriend", "boyfriend": "girlfriend", "lady": "gentleman", "gentleman": "lady",
    },
    "es": {
        "ella": "él", "él": "ella", "la": "el", "el": "la", "una": "un", "un": "una",
        "enfermera": "enfermero", "enfermero": "enfermera", "médica": "médico", "médico": "médica",
        "madre": "padre", "padre": "madre", "hija": "hijo", "hijo": "hija", "hermana": "hermano",
        "hermano": "hermana", "mujer": "hombre", "hombre": "mujer", "esposa": "esposo",
        "esposo": "esposa", "profesora": "profesor", "profesor": "profesora", "sra": "sr", "sr": "sra",
    },
}  # fmt: skip
_FEMALE = {"en": {"she", "her", "hers", "herself"}, "es": {"ella", "la", "una"}}


def naive(language: str) -> Callable[[str], Swapped | Left]:
    """Swap every listed word; the prompt's gender read from its first listed word."""
    table = NAIVE[language]

    def swap(text: str) -> Swapped | Left:
        tokens = words(text)
        hits = {i: table[t.lower] for i, t in enumerate(tokens) if t.lower in table}
        if not hits:
            return Left("none", "no listed word")
        replaced = {i: cased(tokens[i].text, new) for i, new in hits.items()}
        other, marks = rebuild(text, tokens, replaced)
        first = tokens[min(hits)].lower
        female = first in _FEMALE[language] or re.search(r"(a|as|ess|woman|women)$", first) is not None
        variants = {"female": text, "male": other} if female else {"female": other, "male": text}
        return Swapped(variants, {"female": marks, "male": marks}, [])

    return swap


def show(name: str, quality: Quality, *, details: bool) -> None:
    n = quality.total
    print(
        f"  {name:<34} exactly right {quality.share(quality.exact):6.1%}   wrongly swapped "
        f"{quality.share(quality.wrong):6.1%}   skipped {quality.share(quality.skipped):5.1%}"
    )
    if quality.nonbinary_expected:
        left = quality.nonbinary_expected - quality.nonbinary_right
        print(
            f"  {'':<34} nonbinary: {quality.nonbinary_right} of {quality.nonbinary_expected} written right, "
            f"{left} left out, {quality.nonbinary_wrong} wrong"
        )
    if not details:
        return
    traps = ", ".join(f"{t} {quality.exact_by_trap[t]}/{c}" for t, c in sorted(quality.by_trap.items()))
    print(f"  by trap ({n} prompts): {traps}")
    for line in quality.wrong_lines:
        print(f"  WRONG   {line}")
    for line in quality.skipped_lines:
        print(f"  skipped {line}")


def main() -> None:
    for language, swapper in (("en", swap_english), ("es", swap_spanish)):
        labelled = read_labelled(ROOT / "tests" / "data" / f"swap_{language}.tsv")
        kinds = {k: sum(item.expected == k for item in labelled) for k in ("f", "m", "skip", "none")}
        print(f"\n{language}: {len(labelled)} labelled prompts ({kinds})")
        show("naive (word list, both ways)", score(labelled, naive(language)), details=False)
        show("from-prompts (grammar, skips)", score(labelled, swapper), details=True)


if __name__ == "__main__":
    main()
