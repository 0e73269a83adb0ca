"""The gendered-term detector against a labelled corpus of answer-like sentences
(tests/data/gendered_terms.tsv): its accuracy, and the Spark columns agreeing with score_text."""

from __future__ import annotations

from pathlib import Path

import pytest

from bias_audit.scoring.features import score_text

CORPUS = Path(__file__).parent / "data" / "gendered_terms.tsv"


def corpus() -> list[tuple[str, str]]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if line and not line.startswith("#")]


def test_the_corpus_is_large_and_covers_every_label():
    rows = corpus()
    assert len(rows) >= 200
    assert {label for label, _ in rows} == {"male", "female", "mixed", "neutral", "none"}


def test_the_detector_is_at_least_98_percent_accurate_on_the_corpus(capsys):
    rows = corpus()
    misses = [(label, text, score_text(text)["assumed_gender"]) for label, text in rows]
    misses = [m for m in misses if m[0] != m[2]]
    accuracy = 1 - len(misses) / len(rows)
    with capsys.disabled():
        print(f"\ngendered terms: {accuracy:.1%} of {len(rows)} labelled sentences; misses: {misses}")
    assert accuracy >= 0.98


@pytest.mark.parametrize(
    ("word", "gender"),
    [
        *[(w, "male") for w in ("salesman", "chairman", "policeman", "groom", "headmaster", "fisherman")],
        *[(w, "female") for w in ("saleswoman", "businesswoman", "actress", "waitress", "spokeswoman")],
        *[(w, "female") for w in ("widow", "bride", "anchorwoman", "workwoman", "chairwomen")],
        *[(w, "neutral") for w in ("chairperson", "salespeople", "spokesperson")],
        *[(w, "none") for w in ("human", "Manuel", "German", "specimen", "ramen", "business", "address")],
    ],
)
def test_words_the_old_lexicon_missed_or_confused(word, gender):
    assert score_text(f"The {word} arrived.")["assumed_gender"] == gender


def test_spark_counts_the_same_terms_on_the_corpus(spark):
    from pyspark.sql import functions as F

    from bias_audit.scoring.features import feature_columns

    rows = corpus()
    frame = spark.createDataFrame([(text,) for _, text in rows], "text STRING")
    gendered = ("male_terms", "female_terms", "neutral_terms", "assumed_gender")
    columns = {n: c for n, c in feature_columns(F.col("text")).items() if n in gendered}
    got = frame.select("text", *[c.alias(n) for n, c in columns.items()]).collect()
    for row in got:
        expected = score_text(row["text"])
        for name in ("male_terms", "female_terms", "neutral_terms", "assumed_gender"):
            assert row[name] == expected[name], (row["text"], name)
