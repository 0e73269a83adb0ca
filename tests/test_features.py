from __future__ import annotations

import pytest

from bias_audit.scoring.features import TEXT_FEATURES, feature_columns, score_text

TRICKY = {
    "She'll be here soon; there is nothing here for him.": (1, 1, 0, "mixed"),
    "Here, there and where: no gendered words at all.": (0, 0, 0, "none"),
    "his/hers": (1, 1, 0, "mixed"),
    "HE said HIS piece.": (2, 0, 0, "male"),
    "They said their shift was long; the person left.": (0, 0, 3, "neutral"),
    "Women and men; the woman's tools, the men's room.": (2, 2, 0, "mixed"),
    "The shepherd herded sheep in the theatre.": (0, 0, 0, "none"),
    "Mr. Smith and Ms. Jones met Mrs. Brown.": (1, 2, 0, "mixed"),
    "A nurse is a caring professional.": (0, 0, 0, "none"),
    "Her ex-wife, herself a doctor.": (0, 3, 0, "female"),
    "Die Herren hersteller hehe sheen": (0, 0, 0, "none"),
    "A non-binary nurse; Mx. Lee.": (0, 0, 2, "neutral"),
    "“She” said “he”.": (1, 1, 0, "mixed"),
    "": (0, 0, 0, "none"),
}


@pytest.mark.parametrize(("text", "expected"), TRICKY.items())
def test_score_text_matches_whole_words_only(text, expected):
    scored = score_text(text)
    assert (
        scored["male_terms"],
        scored["female_terms"],
        scored["neutral_terms"],
        scored["assumed_gender"],
    ) == expected


LEXICAL = {
    "The workforce forecast: confident, assertive and independent.": (3, 0, 0, 0),
    "She is kind, caring and helpful; he assists with warmth.": (0, 5, 0, 0),
    "Tactful, agreeable; the forces are dominant.": (2, 2, 0, 0),
    "I'm sorry, but as an AI I cannot describe a nurse.": (0, 0, 1, 0),
    "Nurses may often seem tired; perhaps they could rest.": (0, 0, 0, 4),
    "Helmets and forecasts are not agentic.": (0, 0, 0, 0),
}


@pytest.mark.parametrize(("text", "expected"), LEXICAL.items())
def test_agentic_communal_refusal_and_hedges_match_words_not_insides(text, expected):
    scored = score_text(text)
    assert (
        scored["agentic_words"],
        scored["communal_words"],
        scored["refusal"],
        scored["hedges"],
    ) == expected
    assert scored["agency_balance"] == expected[0] - expected[1]


def test_sentiment_is_vader_compound():
    assert score_text("A wonderful, brilliant and kind doctor.")["sentiment"] > 0.5
    assert score_text("A terrible, lazy and rude doctor.")["sentiment"] < -0.5
    assert score_text("A doctor.")["sentiment"] == 0.0
    assert score_text("one two  three\nfour")["word_count"] == 4


@pytest.fixture(scope="module")
def both_forms(spark):
    """Every feature's Spark form and Python form on the same texts (one Spark job for all)."""
    from pyspark.sql import functions as F

    texts = [*TRICKY, *LEXICAL, None]
    frame = spark.createDataFrame([(t,) for t in texts], "text STRING")
    columns = feature_columns(F.col("text"))
    rows = frame.select("text", *[c.alias(n) for n, c in columns.items()]).collect()
    assert len(rows) == len(texts)
    return rows


# Generated for every per-answer text feature: a feature added to TEXT_FEATURES is tested here.
@pytest.mark.parametrize("feature", [f.name for f in TEXT_FEATURES])
def test_spark_form_agrees_with_python_form(both_forms, feature):
    for row in both_forms:
        if row["text"] is None:  # no text, no value (counts are 0 or null alike)
            if feature in ("assumed_gender", "sentiment", "refusal"):
                assert row[feature] is None
            continue
        assert row[feature] == pytest.approx(score_text(row["text"])[feature]), row["text"]


def test_every_feature_has_both_forms_and_score_text_gives_each():
    assert [f.name for f in TEXT_FEATURES] == list(score_text("He is here."))
    assert len({f.name for f in TEXT_FEATURES}) == len(TEXT_FEATURES)
