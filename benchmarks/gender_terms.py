"""Accuracy of the gendered-term detector on the labelled corpus (tests/data/gendered_terms.tsv),
side by side: the lexicon's word lists alone (the HELM-style whole-word lists) and the lists with
the compound rules (-man/-men, -woman/-women, -person/-people, with exceptions) that
``features.score_text`` and the Spark columns use.

    .venv/bin/python benchmarks/gender_terms.py

Prints each way's accuracy, its confusion matrix (label -> detected) and the sentences it gets
wrong. Goal (issue 15): at least 98 % for the detector.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bias_audit.scoring.features import GROUPS, _words, assumed_gender, gender_terms, score_text
from tests.test_gender_terms import corpus

LABELS = ("male", "female", "mixed", "neutral", "none")


def lists_only(text: str) -> str:
    counts = {g: len(re.findall(_words(gender_terms()[g]), text)) for g in GROUPS}
    return assumed_gender(counts["male"], counts["female"], counts["neutral"])


def main() -> None:
    rows = corpus()
    print(f"{len(rows)} labelled sentences ({dict(Counter(label for label, _ in rows))})")
    for name, detect in (
        ("word lists only", lists_only),
        ("lists + compound rules (the detector)", lambda t: score_text(t)["assumed_gender"]),
    ):
        found = [(label, text, detect(text)) for label, text in rows]
        misses = [f for f in found if f[0] != f[2]]
        print(f"\n{name}: accuracy {1 - len(misses) / len(rows):.1%} ({len(misses)} wrong)")
        confusion = Counter((label, got) for label, _, got in found)
        print("label -> detected".ljust(18) + "".join(f"{g:>9}" for g in LABELS))
        for label in LABELS:
            print(f"{label:<18}" + "".join(f"{confusion[(label, g)]:>9}" for g in LABELS))
        for label, text, got in misses[:15]:
            print(f"  {label} -> {got}: {text}")


if __name__ == "__main__":
    main()
