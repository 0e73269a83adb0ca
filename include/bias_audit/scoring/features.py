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
``gender_evidence``: the words that decided ``assumed_gender``, "; "-separated.

Languages: the features above are English (``TEXT_FEATURES``). A Spanish answer is scored by
``SPANISH_FEATURES``: assumed gender read from agreement (scoring/spanish.py), refusals and hedges
from ``lexicons/refusal_hedging_es.yaml``, word count; the English-only ones (VADER, the agentic
and communal lists) are null for it, never computed on Spanish text (``FEATURES``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from bias_audit.scoring import spanish

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


def _english_evidence(text: str) -> str:
    return "; ".join(w for group in GROUPS for w in re.findall(term_pattern(group), text))


def _english_evidence_column(text: Column) -> Column:
    F = _functions()
    found = [F.regexp_extract_all(text, F.lit(term_pattern(group)), F.lit(0)) for group in GROUPS]
    return F.when(text.isNull(), None).otherwise(F.concat_ws("; ", F.concat(*found)))


# Every per-answer text feature of an English answer, in the features table's column order.
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
    TextFeature(
        "gender_evidence", lambda t, c: _english_evidence(t), lambda t, c: _english_evidence_column(t)
    ),
)


@functools.cache
def spanish_patterns() -> dict[str, str]:
    """Spanish refusal and hedging phrases, matched in lower-cased text between non-letters: the
    same in Python and Java regex (whose \\b and (?i) do not know accented letters)."""
    markers = _lexicon("refusal_hedging_es.yaml")
    letter = "[a-z0-9_áéíóúüñ]"

    def phrases(key: str) -> str:
        return "|".join(re.escape(p).replace("\\ ", " ") for p in sorted(markers[key], key=len, reverse=True))

    return {
        name: rf"(?<!{letter})(?:{phrases(key)})(?!{letter})"
        for name, key in (("refusal", "refusal"), ("hedges", "hedging"))
    }


def _spanish(name: str, field: str) -> TextFeature:
    """A field of the Spanish reading (``spanish.Reading.fields``): from its dict in Python, from the
    struct column of ``_spanish_udf`` in Spark."""
    return TextFeature(name, lambda t, c: c["gender"][field], lambda t, c: c["gender"][field])


# A Spanish answer's features: the same columns, those valid in Spanish (the rest are null).
SPANISH_FEATURES: tuple[TextFeature, ...] = (
    _spanish("male_terms", "male"),
    _spanish("female_terms", "female"),
    _spanish("neutral_terms", "neutral"),
    _spanish("assumed_gender", "assumed"),
    TextFeature(
        "refusal",
        lambda t, c: int(c["refusal"] > 0),
        lambda t, c: _functions().when(t.isNull(), None).otherwise((c["refusal"] > 0).cast("int")),
    ),
    _count("hedges"),
    TextFeature("word_count", lambda t, c: len(t.split()), _words_column),
    _spanish("gender_evidence", "evidence"),
)
FEATURES: dict[str, tuple[TextFeature, ...]] = {"en": TEXT_FEATURES, "es": SPANISH_FEATURES}
# Every feature column, in the features table's order, and its Spark type (a language's missing
# features are nulls of that type, so that every run's features share one schema).
FEATURE_TYPES: dict[str, str] = {
    **{f"{group}_terms": "int" for group in GROUPS},
    "assumed_gender": "string",
    "agentic_words": "int",
    "communal_words": "int",
    "agency_balance": "int",
    "refusal": "int",
    "hedges": "int",
    "sentiment": "double",
    "word_count": "int",
    "gender_evidence": "string",
}


def _language(language: str) -> tuple[TextFeature, ...]:
    try:
        return FEATURES[language]
    except KeyError:
        raise ValueError(
            f"no per-answer features for language {language!r}; known: {', '.join(FEATURES)}"
        ) from None


def score_text(
    text: str, language: str = "en", names: Mapping[str, str] | None = None
) -> dict[str, int | float | str | None]:
    """All per-answer features of one text, outside Spark (the language's Python forms; None for
    a feature the language lacks). ``names``: first names a suite gives, to their gender (read in
    Spanish answers).

    >>> scores = score_text("She said her shift was here.")
    >>> scores["female_terms"], scores["male_terms"], scores["assumed_gender"]
    (2, 0, 'female')
    >>> score_text("La ingeniera está cansada.", "es")["assumed_gender"]
    'female'
    """
    features = _language(language)
    if language == "es":
        lowered = text.lower()
        counts: dict[str, Any] = {n: len(re.findall(p, lowered)) for n, p in spanish_patterns().items()}
        counts["gender"] = spanish.read_gender(text, names).fields()
    else:
        counts = {name: len(re.findall(pattern, text)) for name, pattern in counted_patterns().items()}
    scored = {feature.name: feature.python(text, counts) for feature in features}
    return {name: scored.get(name) for name in _names()}


def feature_columns(
    text: Column, language: str = "en", names: Mapping[str, str] | None = None
) -> dict[str, Column]:
    """The same features as Spark columns (the language's Spark forms; typed nulls for a feature
    the language lacks)."""
    F = _functions()
    features = _language(language)
    if language == "es":
        lowered = F.lower(text)
        counts = {n: F.regexp_count(lowered, F.lit(p)) for n, p in spanish_patterns().items()}
        counts["gender"] = _spanish_udf(tuple(sorted((names or {}).items())))(text)
    else:
        counts = {name: F.regexp_count(text, F.lit(pattern)) for name, pattern in counted_patterns().items()}
    columns = {feature.name: feature.spark(text, counts) for feature in features}
    return {
        name: columns[name].cast(FEATURE_TYPES.get(name, "double"))
        if name in columns
        else F.lit(None).cast(FEATURE_TYPES.get(name, "double"))
        for name in _names()
    }


def _names() -> list[str]:
    """Every language's feature names, English's order first."""
    return list(dict.fromkeys(f.name for features in FEATURES.values() for f in features))


@functools.cache
def _spanish_udf(names: tuple[tuple[str, str], ...] = ()):
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    # One definition of the Spanish reading for Python and Spark: its rules look at each word's
    # neighbours (determiner, copula, clause), which Spark's native functions cannot express
    # without a second copy of the rules, so Spark calls the same function in vectorised batches.
    fields = ["female", "male", "neutral", "assumed", "evidence"]

    def read(texts: pd.Series) -> pd.DataFrame:
        rows = [
            spanish.read_gender(text, dict(names)).fields()
            if isinstance(text, str)
            else dict.fromkeys(fields)
            for text in texts
        ]
        return pd.DataFrame(rows, columns=fields)

    read.__annotations__ = {"texts": pd.Series, "return": pd.DataFrame}
    return pandas_udf(read, "female int, male int, neutral int, assumed string, evidence string")


@functools.cache
def _sentiment_udf():
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    def vader_compound(texts: pd.Series) -> pd.Series:
        return texts.map(lambda t: sentiment(t) if isinstance(t, str) else None)

    # pandas_udf reads the type hints, which `from __future__ import annotations` turns into strings.
    vader_compound.__annotations__ = {"texts": pd.Series, "return": pd.Series}
    return pandas_udf(vader_compound, "double")
