"""Accuracy of the Spanish gender detector (scoring/spanish.py) on the project's labelled corpus
(tests/data/es_gender_corpus.tsv), side by side with what the English word lists would say of
the same Spanish sentences (what an English-only scorer does to a Spanish audit, silently).

    .venv/bin/python benchmarks/spanish_detector.py

Prints each way's accuracy, its confusion matrix (label -> detected), the detector's accuracy per
kind of sentence (the traps: generic plurals, doubled and inclusive forms, "la persona", nouns of
things, epicene nouns, impersonal sentences) and the sentences it gets wrong. Goal (issue 28): at
least 98 % for the detector.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bias_audit.scoring.features import score_text
from tests.test_spanish import corpus

LABELS = ("male", "female", "mixed", "neutral", "none")


def main() -> None:
    rows = corpus()
    print(f"{len(rows)} labelled Spanish sentences ({dict(Counter(label for label, _, _ in rows))})")
    ways = (("English word lists (no language)", "en"), ("Spanish detector (agreement)", "es"))
    for name, language in ways:
        found = [
            (label, kind, text, score_text(text, language)["assumed_gender"]) for label, kind, text in rows
        ]
        misses = [f for f in found if f[0] != f[3]]
        print(f"\n{name}: accuracy {1 - len(misses) / len(rows):.1%} ({len(misses)} wrong)")
        confusion = Counter((label, got) for label, _, _, got in found)
        print("label -> detected".ljust(18) + "".join(f"{g:>9}" for g in LABELS))
        for label in LABELS:
            print(f"{label:<18}" + "".join(f"{confusion[(label, g)]:>9}" for g in LABELS))
        if language != "es":
            continue
        by_kind: dict[str, list[bool]] = defaultdict(list)
        for label, kind, _, got in found:
            by_kind[kind].append(label == got)
        kinds = ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(by_kind.items()))
        print(f"by kind of sentence: {kinds}")
        for label, _, text, got in misses:
            print(f"  {label} -> {got}: {text}")


if __name__ == "__main__":
    main()
