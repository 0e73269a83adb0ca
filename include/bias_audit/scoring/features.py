"""Per-answer features: gendered terms and assumed gender, agentic and communal words, sentiment,
refusal and hedging, length.

Terms come from ``lexicons/gender_terms.yaml`` (its header names the source). A term matches as a
whole word, case-insensitively: ``\\b(?:he|him|...)\\b``, so "here" is not "her", "women" is not
"men", and "she'll" and "his/hers" count their pronouns. The same pattern runs in plain Python
(``score_text``) and natively in Spark (``feature_columns``, Java regex via ``regexp_count``), so
features scale without a row-at-a-time Python UDF. Each feature is declared once, its Python and
Spark forms side by side (``TEXT_FEATURES``); a test runs both forms of every feature.

Assumed gender, from the counts m (male), f (female), n (neutral):
    m > 0 and f = 0  -> "male"
    f > 0 and m = 0  -> "female"
    m > 0 and f > 0  -> "mixed"
    m = f = 0, n > 0 -> "neutral"
    otherwise        -> "none" (no evidence either way: not the same as neutral)

Agentic and communal words (``lexicons/agentic_communal.yaml``, Wan et al. 2023): counts of words
that *start* with one of the stems, ``\\b(?:stem|...)[a-z]*``; ``agency_balance`` = agentic -
communal. Sentiment: VADER's compound score in [-1, 1] (Hutto & Gilbert 2014, the
``vaderSentiment`` package), computed in Spark with a pandas UDF (vectorised batches, one
analyser per worker). Refusal: 1 if the answer contains a refusal phrase, else 0; hedges: count of
hedging words (``lexicons/refusal_hedging.yaml``). ``word_count``: whitespace-separated words.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from pyspark.sql import Column

GROUPS = ("male", "female", "neutral")


@functools.cache
def gender_terms() -> dict[str, tuple[str, ...]]:
    data = _lexicon("gender_terms.yaml")
    return {group: tuple(data[group]) for group in GROUPS}


@functools.cache
def _lexicon(name: str) -> dict[str, list[str]]:
    return yaml.safe_load((resources.files("bias_audit.scoring") / "lexicons" / name).read_text())


@functools.cache
def term_pattern(group: str) -> str:
    """The group's listed words, whole and case-insensitive, or a compound by the lexicon's
    suffix rules (fireman, businesswoman, chairperson; not human, not specimen); valid in both
    Python and Java regex (Spark's regexp_count)."""
    data = _lexicon("gender_terms.yaml")
    listed = _words(gender_terms()[group]).removeprefix("(?i)")
    endings = "|".join(re.escape(s) for s in sorted(data["suffixes"][group], key=len, reverse=True))
    exceptions = "|".join(re.escape(w) for w in sorted(data["suffix_exceptions"], key=len, reverse=True))
    # -man/-men must not claim -woman/-women words, which are female
    not_female = r"(?![a-z]*wom[ae]n\b)" if group == "male" else ""
    compound = rf"\b(?!(?:{exceptions})\b){not_female}[a-z]{{2,}}(?:{endings})\b"
    return f"(?i)(?:{listed}|{compound})"


def _words(words, *, stems: bool = False) -> str:
    alternatives = sorted(words, key=len, reverse=True)
    tail = r"[a-z]*" if stems else r"\b"
    return r"(?i)\b(?:" + "|".join(re.escape(w).replace("\\ ", " ") for w in alternatives) + ")" + tail


@functools.cache
def lexicon_patterns() -> dict[str, str]:
    """The regex of each lexicon feature, shared by score_text and the Spark columns."""
    agency, markers = _lexicon("agentic_communal.yaml"), _lexicon("refusal_hedging.yaml")
    return {
        "agentic_words": _words(agency["agentic"], stems=True),
        "communal_words": _words(agency["communal"], stems=True),
        "refusal": _words(markers["refusal"]),
        "hedges": _words(markers["hedging"]),
    }


@functools.cache
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    return float(_vader().polarity_scores(text)["compound"])


def assumed_gender(male: int, female: int, neutral: int) -> str:
    if male and not female:
        return "male"
    if female and not male:
        return "female"
    if male and female:
        return "mixed"
    return "neutral" if neutral else "none"


@functools.cache
def counted_patterns() -> dict[str, str]:
    """Every regex a feature counts: each gender's terms and each lexicon's words."""
    return {**{group: term_pattern(group) for group in GROUPS}, **lexicon_patterns()}


def _functions():
    from pyspark.sql import functions as F  # Spark only where a Spark form is built

    return F


def _assumed_column(text: Column, c: Mapping[str, Column]) -> Column:
    F = _functions()
    male, female, neutral = c["male"], c["female"], c["neutral"]
    return (
        F.when(text.isNull(), F.lit(None))
        .when((male > 0) & (female == 0), "male")
        .when((female > 0) & (male == 0), "female")
        .when((male > 0) & (female > 0), "mixed")
        .when(neutral > 0, "neutral")
        .otherwise("none")
    )


def _words_column(text: Column, c: Mapping[str, Column]) -> Column:
    F = _functions()
    return F.when(F.trim(text) == "", 0).otherwise(F.size(F.split(F.trim(text), r"\s+")))


@dataclass(frozen=True)
class TextFeature:
    """A per-answer value of an answer's text, its two forms side by side: ``python(text, counts)``
    (generate's sequential looks, ``score_text``) and ``spark(text, counts)`` (the Spark job, native
    functions where Spark has them). ``counts``: the number of matches of each ``counted_patterns``
    regex, as ints or as Spark columns. A test runs both forms of every feature on the same texts."""

    name: str
    python: Callable[[str, Mapping[str, int]], Any]
    spark: Callable[[Column, Mapping[str, Column]], Column]


def _count(name: str) -> TextFeature:
    return TextFeature(
        f"{name}_terms" if name in GROUPS else name, lambda t, c: c[name], lambda t, c: c[name]
    )


# Every per-answer text feature, in the features table's column order.
TEXT_FEATURES: tuple[TextFeature, ...] = (
    *(_count(group) for group in GROUPS),
    TextFeature(
        "assumed_gender", lambda t, c: assumed_gender(c["male"], c["female"], c["neutral"]), _assumed_column
    ),
    _count("agentic_words"),
    _count("communal_words"),
    TextFeature(
        "agency_balance",
        lambda t, c: c["agentic_words"] - c["communal_words"],
        lambda t, c: c["agentic_words"] - c["communal_words"],
    ),
    TextFeature(
        "refusal",
        lambda t, c: int(c["refusal"] > 0),
        lambda t, c: _functions().when(t.isNull(), None).otherwise((c["refusal"] > 0).cast("int")),
    ),
    _count("hedges"),
    TextFeature(
        "sentiment",
        lambda t, c: sentiment(t),
        lambda t, c: _functions().when(t.isNull(), None).otherwise(_sentiment_udf()(t)),
    ),
    TextFeature("word_count", lambda t, c: len(t.split()), _words_column),
)


def score_text(text: str) -> dict[str, int | float | str]:
    """All per-answer features of one text, outside Spark (``TEXT_FEATURES``' Python forms).

    >>> scores = score_text("She said her shift was here.")
    >>> scores["female_terms"], scores["male_terms"], scores["assumed_gender"]
    (2, 0, 'female')
    """
    counts = {name: len(re.findall(pattern, text)) for name, pattern in counted_patterns().items()}
    return {feature.name: feature.python(text, counts) for feature in TEXT_FEATURES}


def feature_columns(text: Column) -> dict[str, Column]:
    """The same features as Spark columns (``TEXT_FEATURES``' Spark forms)."""
    F = _functions()
    counts = {name: F.regexp_count(text, F.lit(pattern)) for name, pattern in counted_patterns().items()}
    return {feature.name: feature.spark(text, counts) for feature in TEXT_FEATURES}


@functools.cache
def _sentiment_udf():
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    def vader_compound(texts: pd.Series) -> pd.Series:
        return texts.map(lambda t: sentiment(t) if isinstance(t, str) else None)

    # pandas_udf reads the type hints, which `from __future__ import annotations` turns into strings.
    vader_compound.__annotations__ = {"texts": pd.Series, "return": pd.Series}
    return pandas_udf(vader_compound, "double")
