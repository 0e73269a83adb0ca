"""Per-answer features: gendered-term counts and the gender an answer assumes.

Terms come from ``lexicons/gender_terms.yaml`` (its header names the source). A term matches as a
whole word, case-insensitively: ``\\b(?:he|him|...)\\b``, so "here" is not "her", "women" is not
"men", and "she'll" and "his/hers" count their pronouns. The same pattern runs in plain Python
(``score_text``) and natively in Spark (``gender_feature_columns``, Java regex via
``regexp_count``), so features scale without a row-at-a-time Python UDF; a test keeps the two
in agreement.

Assumed gender, from the counts m (male), f (female), n (neutral):
    m > 0 and f = 0  -> "male"
    f > 0 and m = 0  -> "female"
    m > 0 and f > 0  -> "mixed"
    m = f = 0, n > 0 -> "neutral"
    otherwise        -> "none" (no evidence either way: not the same as neutral)
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from pyspark.sql import Column

GROUPS = ("male", "female", "neutral")


@functools.cache
def gender_terms() -> dict[str, tuple[str, ...]]:
    text = (resources.files("bias_audit.analyze") / "lexicons" / "gender_terms.yaml").read_text()
    data = yaml.safe_load(text)
    return {group: tuple(data[group]) for group in GROUPS}


@functools.cache
def term_pattern(group: str) -> str:
    """Whole-word, case-insensitive alternation; valid in both Python and Java regex."""
    alternatives = sorted(gender_terms()[group], key=len, reverse=True)
    return r"(?i)\b(?:" + "|".join(re.escape(term) for term in alternatives) + r")\b"


def assumed_gender(male: int, female: int, neutral: int) -> str:
    if male and not female:
        return "male"
    if female and not male:
        return "female"
    if male and female:
        return "mixed"
    return "neutral" if neutral else "none"


def score_text(text: str) -> dict[str, int | str]:
    """Gendered-term counts and assumed gender of one answer, outside Spark.

    >>> score_text("She said her shift was here.")
    {'male_terms': 0, 'female_terms': 2, 'neutral_terms': 0, 'assumed_gender': 'female'}
    """
    counts = {group: len(re.findall(term_pattern(group), text)) for group in GROUPS}
    return {
        "male_terms": counts["male"],
        "female_terms": counts["female"],
        "neutral_terms": counts["neutral"],
        "assumed_gender": assumed_gender(counts["male"], counts["female"], counts["neutral"]),
    }


def gender_feature_columns(text: Column) -> dict[str, Column]:
    """The same features as Spark columns (native functions only)."""
    from pyspark.sql import functions as F

    counts = {group: F.regexp_count(text, F.lit(term_pattern(group))) for group in GROUPS}
    male, female, neutral = counts["male"], counts["female"], counts["neutral"]
    assumed = (
        F.when(text.isNull(), F.lit(None))
        .when((male > 0) & (female == 0), "male")
        .when((female > 0) & (male == 0), "female")
        .when((male > 0) & (female > 0), "mixed")
        .when(neutral > 0, "neutral")
        .otherwise("none")
    )
    return {
        "male_terms": male,
        "female_terms": female,
        "neutral_terms": neutral,
        "assumed_gender": assumed,
    }


def word_count_column(text: Column) -> Column:
    from pyspark.sql import functions as F

    return F.when(F.trim(text) == "", 0).otherwise(F.size(F.split(F.trim(text), r"\s+")))
