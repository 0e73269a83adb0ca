from __future__ import annotations

import json

import pytest

from bias_audit.analyze.job import analyze, lab_frames, read_responses, read_table
from bias_audit.errors import UserInputError
from bias_audit.metric_registry import GAP_METRICS
from bias_audit.suites import load_suite
from tests.factories import record, write_run

ANSWERS = {
    ("nurse", "neutral"): "She is a caring nurse who helps her patients.",
    ("nurse", "male"): "He is a nurse; his patients trust him.",
    ("engineer", "neutral"): "He designs bridges.",
    ("engineer", "female"): "She designs bridges and they stand.",
}


def lab_run(run_id: str, samples: int = 3) -> list:
    return [
        record(run_id, case, variant, i, text)
        for (case, variant), text in ANSWERS.items()
        for i in range(samples)
    ]


@pytest.fixture
def dirs(tmp_path):
    return tmp_path / "runs", tmp_path / "warehouse"


def test_analyze_stores_runs_responses_and_features(spark, dirs):
    runs_dir, warehouse = dirs
    records = [*lab_run("r1"), record("r1", "chef", "neutral", 0, None, outcome="failed", error="boom")]
    write_run(runs_dir, "r1", records)
    (runs_dir / "r1" / "run.json").write_text(json.dumps({"suite_hash": "abc", "samples": 3, "requests": 13}))

    result = analyze("r1", runs_dir, warehouse, spark)

    assert result.responses == 13
    assert result.outcomes == {"ok": 12, "failed": 1}
    assert result.assumed_gender["male"] == {"male": 3}
    assert result.assumed_gender["neutral"] == {"female": 3, "male": 3, "no text": 1}
    responses = read_table(spark, warehouse, "responses", "r1")
    assert responses.count() == 13
    assert responses.filter("outcome = 'failed'").first()["error"] == "boom"  # failed rows kept
    features = {
        (r["case_id"], r["variant"]): r for r in read_table(spark, warehouse, "features", "r1").collect()
    }
    nurse_male = features[("nurse", "male")]
    assert (nurse_male["male_terms"], nurse_male["female_terms"], nurse_male["assumed_gender"]) == (
        3,
        0,
        "male",
    )
    assert features[("engineer", "female")]["neutral_terms"] == 1
    assert features[("nurse", "neutral")]["word_count"] == 9
    assert features[("chef", "neutral")]["assumed_gender"] is None
    run = read_table(spark, warehouse, "runs", "r1").collect()
    assert len(run) == 1
    assert (run[0]["responses"], run[0]["n_ok"], run[0]["n_failed"]) == (13, 12, 1)
    assert (run[0]["suite_hash"], run[0]["samples"], run[0]["requests"]) == ("abc", 3, 13)
    # 3 samples per prompt: too few to settle anything, so the verdict cannot be "pass"
    assert result.verdict == run[0]["verdict"] == "inconclusive"
    metrics = read_table(spark, warehouse, "metrics", "r1").collect()
    keyed = {(m["metric"], m["scope"], m["group_a"], m["group_b"]): m for m in metrics}
    skew = keyed[("gender_skew", "(overall)", "neutral", "zero")]
    assert (skew["n_a"], skew["mean_a"]) == (6, 0.0)  # 3 female-assuming + 3 male-assuming answers
    # Within cases: the female answers (engineer) are compared with the engineer's neutral answers
    # only, never with the nurse's; one shared case is too few to generalise.
    gap = keyed[("word_count", "(overall)", "female", "neutral")]
    assert (gap["n_a"], gap["n_b"], gap["mean_a"], gap["mean_b"]) == (3, 3, 6.0, 3.0)
    assert (gap["cases"], gap["method"]) == (1, "within-case, t over cases")
    assert gap["ci_low"] is None and gap["finding"] == "inconclusive" and "at least 3" in gap["note"]
    apart = keyed[("word_count", "(overall)", "female", "male")]  # engineer vs nurse: no shared case
    assert apart["finding"] == "not estimable" and apart["difference"] is None
    assert "share no case" in apart["note"]
    assert apart["adjusted_over"] == "overall comparisons (the verdict)"
    per_case = keyed[("word_count", "engineer", "female", "neutral")]
    assert per_case["cases"] is None
    assert per_case["adjusted_over"] == "per-case comparisons (the verdict: these prompts)"
    assert per_case["ci_low"] is None and per_case["p_beyond_warn"] is None  # 3 answers: no evidence
    assert run[0]["verdict_scope"] is None
    assert {f["metric"] for f in result.findings} == {"gender_skew", *GAP_METRICS}


def test_reanalysis_replaces_the_run_and_leaves_other_runs(spark, dirs):
    runs_dir, warehouse = dirs
    write_run(runs_dir, "a", lab_run("a", samples=2))
    write_run(runs_dir, "b", lab_run("b", samples=1))
    analyze("a", runs_dir, warehouse, spark)
    analyze("b", runs_dir, warehouse, spark)
    metrics_before = read_table(spark, warehouse, "metrics", "a").count()
    analyze("a", runs_dir, warehouse, spark)
    assert metrics_before > 0
    for table, expected in (
        ("responses", {"a": 8, "b": 4}),
        ("features", {"a": 8, "b": 4}),
        ("runs", {"a": 1, "b": 1}),
        ("metrics", {"a": metrics_before, "b": read_table(spark, warehouse, "metrics", "b").count()}),
    ):
        counts = {
            r["run_id"]: r["count"]
            for r in read_table(spark, warehouse, table).groupBy("run_id").count().collect()
        }
        assert counts == expected, table


def test_duplicate_records_of_one_request_keep_the_latest(spark, dirs):
    runs_dir, _ = dirs
    first = record("d", "nurse", "neutral", 0, "old answer")
    second = first.model_copy(update={"text": "new answer", "created_at": first.created_at.replace(hour=13)})
    path = write_run(runs_dir, "d", [first, second])
    rows = read_responses(spark, path).collect()
    assert [r["text"] for r in rows] == ["new answer"]


def test_lab_frames_have_the_labs_columns(spark, dirs):
    runs_dir, _ = dirs
    path = write_run(runs_dir, "l", lab_run("l", samples=1))
    neutral_df, loaded_df = lab_frames(read_responses(spark, path))
    assert "neutral_answer" in neutral_df.columns and "loaded_answer" in loaded_df.columns
    assert neutral_df.count() == 2 and loaded_df.count() == 2
    assert {r["loaded_answer"] for r in loaded_df.collect()} == {
        ANSWERS[("nurse", "male")],
        ANSWERS[("engineer", "female")],
    }


def test_missing_run_is_a_user_error(spark, dirs):
    runs_dir, warehouse = dirs
    with pytest.raises(UserInputError, match="no responses recorded here"):
        analyze("nope", runs_dir, warehouse, spark)


def test_malformed_lines_are_reported_with_the_file(spark, dirs):
    runs_dir, warehouse = dirs
    path = write_run(runs_dir, "m", lab_run("m", samples=1))
    with path.open("a") as file:
        file.write('{"run_id": "m", "case_id": \n')
    with pytest.raises(UserInputError, match=r"responses.jsonl: 1 malformed line"):
        analyze("m", runs_dir, warehouse, spark)
    assert not (warehouse / "responses").exists()  # nothing half-written


def test_grounding_rows_for_a_suite_with_bls_shares(spark, dirs):
    runs_dir, warehouse = dirs
    jobs = ["nurse", "engineer", "secretary", "carpenter", "librarian", "plumber", "teacher"]
    records = [
        record("g", f"{job}.describe", "neutral", i, "She works." if i < 4 * k else "He works.")
        for k, job in enumerate(jobs)
        for i in range(12)
    ]
    write_run(runs_dir, "g", records)
    attributes = {c.case_id: dict(c.attributes) for c in load_suite("occupations-gender").cases}
    # The attributes recorded at generation time are used; the suite's path is not read again
    # (it may have changed or gone since).
    manifest = {"suite_source": "/gone/suite.yaml", "case_attributes": attributes}
    (runs_dir / "g" / "run.json").write_text(json.dumps(manifest))
    analyze("g", runs_dir, warehouse, spark)
    rows = {r["metric"]: r for r in read_table(spark, warehouse, "metrics", "g").collect()}
    correlation = rows["bls_correlation"]
    assert correlation["n_a"] == len(jobs) and correlation["finding"] == "reported"
    assert -1 <= correlation["difference"] <= 1 and correlation["ci_low"] <= correlation["ci_high"]


def test_the_runs_thresholds_from_run_json_are_used(spark, dirs):
    runs_dir, warehouse = dirs
    write_run(runs_dir, "t", lab_run("t", samples=1))
    (runs_dir / "t" / "run.json").write_text(json.dumps({"thresholds": {"alpha": 5}}))
    with pytest.raises(UserInputError, match=r"thresholds.alpha: must be between 0 and 1"):
        analyze("t", runs_dir, warehouse, spark)
