"""The Spark job of one run: responses.jsonl -> tables ``runs``, ``responses``, ``features``.

Tables are Parquet directories under the warehouse or catalog tables (tables.py), partitioned by
``run_id``. Analysing a run
again overwrites that run's partition only (dynamic partition overwrite): rows are replaced,
never duplicated, and other runs are untouched.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from functools import reduce
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from bias_audit.analyze.spark import get_spark
from bias_audit.errors import UserInputError
from bias_audit.judge.grading import JUDGE_KEYS, GradeRecord
from bias_audit.judge.labels import read_labels
from bias_audit.judge.ppi import ppi_rows
from bias_audit.metric_registry import JUDGE_METRICS, METRICS, TEXT_METRICS, kind_metrics
from bias_audit.records import OUTCOMES, spark_ddl, utc_now
from bias_audit.run_folder import RunFolder
from bias_audit.scoring.features import feature_columns
from bias_audit.scoring.tasks import TASK_COLUMNS, TEXT, Scoring, task_columns, unit_column
from bias_audit.stats.decisions import decision_effects
from bias_audit.stats.design import Design, recorded_design
from bias_audit.stats.health import health_warnings, with_health
from bias_audit.stats.metrics import (
    FAMILY_PER_CASE,
    OVERALL,
    MetricRow,
    answer_values,
    compared_pairs,
    comparisons,
    family_of,
    grounding,
)
from bias_audit.stats.sequential import Look, analyse, apply, stop_in_words
from bias_audit.stats.verdict import (
    apply_thresholds,
    mark_thin,
    plain_verdict,
    verdict_and_scope,
    verdict_in_words,
)
from bias_audit.tables import Tables, open_tables
from bias_audit.thresholds import Thresholds

log = logging.getLogger(__name__)

_CORRUPT = "_corrupt_record"
DECIDED = ("fail", "warn")


@dataclass
class AnalysisResult:
    run_id: str
    warehouse: str
    responses: int
    outcomes: dict[str, int]
    verdict: str
    findings: list[dict[str, object]] = field(default_factory=list)  # the overall comparisons
    assumed_gender: dict[str, dict[str, int]] = field(default_factory=dict)
    run: dict[str, object] = field(default_factory=dict)  # the run's row of the runs table
    thresholds: dict[str, object] = field(default_factory=dict)  # the ones the verdict applied

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def analyze(
    run_id: str, runs_dir: Path, warehouse: Path | str | Tables, spark: SparkSession | None = None
) -> AnalysisResult:
    spark = spark or get_spark()
    tables = open_tables(warehouse)
    folder = RunFolder.of(runs_dir, run_id)
    responses = read_responses(spark, folder.responses).cache()
    try:
        neutral_df, loaded_df = lab_frames(responses)
        log.info("neutral_df (the lab's neutral answers):\n%s", _show(neutral_df))
        log.info("loaded_df (the lab's loaded answers):\n%s", _show(loaded_df))

        manifest = folder.read_manifest()
        attributes, task = folder.case_attributes(manifest), manifest.get("task")
        language = manifest.get("language") or "en"  # runs from before languages are English
        grades = grades_frame(spark, folder, manifest.get("judge_grading"))
        features = features_frame(
            responses, task, attributes, grades, language, manifest.get("names")
        ).cache()
        thresholds = Thresholds.from_overrides(manifest.get("thresholds"))
        design = sequential_design(manifest)
        scoring = Scoring.of(task, judged=grades is not None, language=language)
        metric_rows, verdict, looks = run_metrics(features, attributes, thresholds, design, scoring)
        if scoring.crossed is not None:  # cells are thin: say what they would take
            samples = design[0].looks[design[2] - 1] if design else manifest.get("samples")
            mark_thin(metric_rows, samples, str(manifest.get("suite", "SUITE")), thresholds)
        if scoring.judged:
            metric_rows += corrected_rows(features, folder, scoring)
        metrics = metrics_frame(spark, run_id, metric_rows)
        outcomes = {row["outcome"]: row["count"] for row in responses.groupBy("outcome").count().collect()}
        summary = _summary(run_id, metric_rows, verdict, thresholds, design, manifest, outcomes, features)
        scope = verdict_and_scope(metric_rows)[1]
        runs = (
            runs_frame(responses, manifest)
            .withColumn("verdict", F.lit(verdict))
            # which scope decided it: "these prompts", "beyond them" (the cases' population), "both"
            .withColumn("verdict_scope", F.lit(scope).cast("string"))
            .withColumn("verdict_summary", F.lit(summary))
            .withColumn("thresholds", F.lit(json.dumps(thresholds.as_dict())))
        )
        frames = [("responses", responses), ("features", features), ("metrics", metrics), ("runs", runs)]
        if looks:
            frames.append(("looks", looks_frame(spark, run_id, looks)))
        for name, frame in frames:
            tables.write(frame, name)
        log.info(
            "verdict of run %s: %s (%d comparisons in the metrics table)", run_id, verdict, len(metric_rows)
        )

        assumed: dict[str, dict[str, int]] = {}
        for row in features.groupBy("variant", "assumed_gender").count().collect():
            assumed.setdefault(row["variant"], {})[row["assumed_gender"] or "no text"] = row["count"]
        features.unpersist()
        total = sum(outcomes.values())
        (run_row,) = [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.asDict().items()}
            for row in runs.collect()
        ]
        return AnalysisResult(
            run_id,
            tables.location,
            total,
            outcomes,
            verdict,
            _headline(metric_rows),
            assumed,
            run_row,
            thresholds.as_dict(),
        )
    finally:
        responses.unpersist()


def _summary(
    run_id: str,
    metric_rows: list[MetricRow],
    verdict: str,
    thresholds: Thresholds,
    design: tuple[Design, str, int] | None,
    manifest: dict,
    outcomes: dict[str, int],
    features: DataFrame,
) -> str:
    """The verdict in words: a healthy run's plain sentence and next step first, then the
    statistics and, for a sequential run, why it stopped; an unhealthy one's problems first, with
    the settings that fix them (with_health)."""
    summary = verdict_in_words(metric_rows, verdict, thresholds)
    if design is not None:
        plan, reason, rounds = design
        summary += " " + stop_in_words(reason, rounds, plan, int(manifest.get("samples") or 0))
    unparsed = None
    if "unparsed" in features.columns:  # a task suite: answers with text that named no option
        (row,) = features.agg(F.avg("unparsed").alias("share")).collect()
        unparsed = row["share"]
    health = health_warnings(outcomes, max_tokens=manifest.get("max_tokens"), unparsed=unparsed)
    for warning in health:
        log.warning("run %s is unhealthy: %s", run_id, warning)
    if not health:
        summary = plain_verdict(metric_rows, verdict, thresholds) + " " + summary
    return with_health(summary, health)


def read_responses(spark: SparkSession, path: Path) -> DataFrame:
    """The run's records, one per request_key (the latest, should a resumed run have left two)."""
    if not path.is_file():
        raise UserInputError("no responses recorded here; run `bias-audit generate` first", source=str(path))
    raw = (
        spark.read.schema(f"{spark_ddl()}, {_CORRUPT} STRING")
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", _CORRUPT)
        .json(str(path))
        .cache()  # Spark queries the corrupt-record column only of a cached (parsed) read
    )
    corrupt = raw.filter(F.col(_CORRUPT).isNotNull()).count()
    if corrupt:
        raw.unpersist()
        raise UserInputError(
            f"{corrupt} malformed line(s); run `bias-audit generate` for this run again to repair "
            "and resume it",
            source=str(path),
        )
    latest_first = Window.partitionBy("request_key").orderBy(F.col("created_at").desc())
    responses = (
        raw.drop(_CORRUPT)
        .withColumn("_rank", F.row_number().over(latest_first))
        .filter("_rank = 1")
        .drop("_rank")
        .cache()
    )
    responses.count()
    # The raw read must not stay cached: a later analysis of the same file in this process (after
    # generate appended to it) would be served the old lines.
    raw.unpersist()
    return responses


def lab_frames(responses: DataFrame) -> tuple[DataFrame, DataFrame]:
    """The lab's two DataFrames: ``neutral_df`` (``neutral_answer``) and ``loaded_df`` (``loaded_answer``)."""
    keys = ["case_id", "sample_index", "prompt"]
    neutral_df = (
        responses.filter(F.col("variant") == "neutral")
        .select(*keys, F.col("text").alias("neutral_answer"))
        .orderBy("case_id", "sample_index")
    )
    loaded_df = (
        responses.filter(F.col("variant") != "neutral")
        .select(*keys, "variant", F.col("text").alias("loaded_answer"))
        .orderBy("case_id", "variant", "sample_index")
    )
    return neutral_df, loaded_df


def grades_frame(spark: SparkSession, folder: RunFolder, judge: dict | None) -> DataFrame | None:
    """The judge's grade of each answer (judge/grading.py): the latest by the judge and rubric the
    run was graded with (run.json ``judge_grading``); None when the run has no judge."""
    if not judge or not folder.grades.is_file():
        return None

    identity = [F.col(k) == F.lit(judge.get(k)) for k in JUDGE_KEYS]
    latest_first = Window.partitionBy("request_key").orderBy(F.col("created_at").desc())
    return (
        spark.read.schema(spark_ddl(GradeRecord))
        .json(str(folder.grades))
        .filter(F.col("replicate") == 0)
        .filter(reduce(lambda a, b: a & b, identity))
        .withColumn("_rank", F.row_number().over(latest_first))
        .filter("_rank = 1")
        .select(
            "request_key",
            F.col("grade").cast("double").alias("stereotyping"),
            F.col("status").alias("judge_status"),
            F.col("reason").alias("judge_reason"),
        )
    )


def features_frame(
    responses: DataFrame,
    task: dict | None = None,
    attributes: dict[str, dict] | None = None,
    grades: DataFrame | None = None,
    language: str = "en",
    names: dict[str, str] | None = None,
) -> DataFrame:
    """Per answer: its words' features (those valid in the suite's ``language``), for a task suite
    what it decided (scoring/tasks.py), and the judge's grade (``grades``, judge/); null columns
    otherwise, so that every run's features share one schema."""
    text = F.col("text")
    if grades is None:
        judged = responses.select(
            "*",
            F.lit(None).cast("double").alias("stereotyping"),
            F.lit(None).cast("string").alias("judge_status"),
            F.lit(None).cast("string").alias("judge_reason"),
        )
    else:
        judged = responses.join(grades, "request_key", "left")
    return judged.select(
        "run_id",
        "request_key",
        "suite",
        # the case it is analysed in: its own, or a kind's unit (EsBBQ: the template of its instances)
        unit_column(task, attributes or {}, F.col("case_id")).alias("case_id"),
        "variant",
        "sample_index",
        "outcome",
        *[column.alias(name) for name, column in feature_columns(text, language, names).items()],
        *[
            column.alias(name)
            for name, column in task_columns(
                task, attributes or {}, F.col("case_id"), F.col("prompt"), text, F.col("variant")
            ).items()
        ],
        "stereotyping",
        "judge_status",
        "judge_reason",
    )


def run_metrics(
    features: DataFrame,
    attributes: dict[str, dict] | None = None,
    thresholds: Thresholds | None = None,
    sequential: tuple[Design, str, int] | None = None,
    scoring: Scoring = TEXT,
) -> tuple[list[MetricRow], str, list[Look]]:
    """Comparisons, grounding and verdict. The per-answer values are collected to the driver for
    the resampling statistics: a few numbers per answer, fine up to millions of answers.

    A sequential run (``sequential``: its design, stop reason and rounds) gets its overall rows from
    the same sequential analysis that stopped its sampling (sequential.py): intervals intersected
    over the looks, findings from the look they were reached; its looks are returned too."""
    columns = ("variant", "case_id", "sample_index", "outcome", "assumed_gender", *TEXT_METRICS)
    columns += tuple(TASK_COLUMNS) if not scoring.words else ()  # the kinds' columns (choice too)
    columns += JUDGE_METRICS if scoring.judged else ()
    values = answer_values([row.asDict() for row in features.select(*columns).collect()], scoring)
    metric_rows = comparisons(values, scoring=scoring, attributes=attributes)
    if scoring.words:
        metric_rows += grounding(values, attributes or {})
    if any(METRICS[m].kind == "regression" for m in kind_metrics(scoring.task)):  # a kind's regression
        metric_rows += decision_effects(values, attributes or {}, scoring)
    verdict = apply_thresholds(metric_rows, thresholds)
    if sequential is None:
        return metric_rows, verdict, []
    design, _, rounds = sequential
    result = analyse(values, design, rounds, thresholds, scoring)
    return metric_rows, apply(metric_rows, result), result.looks


def corrected_rows(features: DataFrame, folder: RunFolder, scoring: Scoring) -> list[MetricRow]:
    """The judge-corrected stereotyping gaps (judge/ppi.py), when people labelled some answers."""

    labels = {key: int(row["label"]) for key, row in read_labels(folder).items()}
    if not labels:
        return []
    answers = [
        row.asDict() for row in features.select("request_key", "case_id", "variant", "stereotyping").collect()
    ]
    rows = ppi_rows(answers, labels, compared_pairs(scoring, sorted({a["variant"] for a in answers})))
    log.info("judge-corrected stereotyping gaps from %d human labels: %d row(s)", len(labels), len(rows))
    return rows


def sequential_design(manifest: dict[str, object]) -> tuple[Design, str, int] | None:
    """A sequential run's design, stop reason and rounds, from its manifest; None for a fixed run."""
    recorded = manifest.get("sequential")
    if not isinstance(recorded, dict) or not recorded.get("rounds"):
        return None
    looks = recorded.get("looks")  # the looks the run sampled by (its suite's or its own)
    looks = [int(s) for s in looks] if isinstance(looks, list) else []
    alphas = recorded.get("alphas")  # what each spent
    if not isinstance(alphas, list) and isinstance(recorded.get("alpha_per_look"), int | float):
        alphas = [recorded["alpha_per_look"]] * len(looks)  # a run.json from before spend
    alphas = [float(a) for a in alphas] if isinstance(alphas, list) else None
    design = recorded_design(int(recorded["max_samples"]), looks, alphas)
    return design, str(recorded.get("stop_reason")), int(recorded["rounds"])


def looks_frame(spark: SparkSession, run_id: str, looks: list[Look]) -> DataFrame:
    return _frame(spark, run_id, looks, _LOOKS_DDL)


_LOOKS_DDL = (
    "run_id STRING, metric STRING, group_a STRING, group_b STRING, look BIGINT, samples BIGINT, "
    "alpha DOUBLE, difference DOUBLE, ci_low DOUBLE, ci_high DOUBLE, seq_low DOUBLE, seq_high DOUBLE, "
    "finding STRING"
)


def metrics_frame(spark: SparkSession, run_id: str, rows: list[MetricRow]) -> DataFrame:
    return _frame(spark, run_id, rows, _METRICS_DDL)


def _frame(spark: SparkSession, run_id: str, rows: list[MetricRow] | list[Look], ddl: str) -> DataFrame:
    """Rows (anything with ``as_row``) of one run as a DataFrame of the table's schema."""
    return spark.createDataFrame([{"run_id": run_id, **row.as_row()} for row in rows], ddl)


_METRICS_DDL = (
    "run_id STRING, metric STRING, scope STRING, group_a STRING, group_b STRING, p_adjusted DOUBLE, "
    "finding STRING, n_a BIGINT, n_b BIGINT, mean_a DOUBLE, mean_b DOUBLE, difference DOUBLE, "
    "ci_low DOUBLE, ci_high DOUBLE, effect_size DOUBLE, p_value DOUBLE, cases BIGINT, method STRING, "
    "note STRING, adjusted_over STRING, p_beyond_warn DOUBLE, se DOUBLE"
)


def _headline(rows: list[MetricRow]) -> list[dict[str, object]]:
    def rounded(value: object) -> object:
        return round(value, 4) if isinstance(value, float) else value

    keep = (
        "metric",
        "scope",
        "group_a",
        "group_b",
        "n_a",
        "n_b",
        "difference",
        "ci_low",
        "ci_high",
        "p_adjusted",
        "finding",
        "cases",
        "note",
    )
    # the overall rows, and the per-case rows that decided something (the verdict's two scopes)
    shown = [
        r for r in rows if r.scope == OVERALL or (family_of(r) == FAMILY_PER_CASE and r.finding in DECIDED)
    ]
    return [{k: rounded(v) for k, v in r.as_row().items() if k in keep} for r in shown]


def runs_frame(responses: DataFrame, manifest: dict[str, object]) -> DataFrame:
    outcome_counts = [
        F.sum(F.when(F.col("outcome") == outcome, 1).otherwise(0)).alias(f"n_{outcome}")
        for outcome in OUTCOMES
    ]
    summary = responses.groupBy("run_id").agg(
        F.first("suite").alias("suite"),
        F.first("provider").alias("provider"),
        F.first("model").alias("model"),
        F.first("api_version").alias("api_version"),
        F.count("*").alias("responses"),
        *outcome_counts,
        F.sum("prompt_tokens").alias("prompt_tokens"),
        F.sum("completion_tokens").alias("completion_tokens"),
        F.min("created_at").alias("first_response_at"),
        F.max("created_at").alias("last_response_at"),
    )
    settings = [
        F.lit(manifest.get(name, _DEFAULTS.get(name))).cast(spark_type).alias(name)
        for name, spark_type in _SETTINGS.items()
    ]
    # a task suite's scoring (suites.model.ChoiceTask) as JSON: compare and the trends follow it
    task = manifest.get("task")
    settings.append(F.lit(json.dumps(task) if task else None).cast("string").alias("task"))
    # the judge that graded the answers (judge/), by model and rubric
    judge = manifest.get("judge_grading") or {}
    for name in ("judge_model", "rubric_version"):
        settings.append(F.lit(judge.get(name)).cast("string").alias(name))
    return summary.select("*", *settings, F.lit(utc_now()).alias("analyzed_at"))


# What a manifest from before a setting existed means by its absence.
_DEFAULTS = {"language": "en"}
# The run's settings from its manifest (run.json), as columns of the runs table.
_SETTINGS = {
    "suite_hash": "string",
    "suite_source": "string",
    "language": "string",  # the suite's (en, es): which metrics its verdict rests on
    "translates": "string",  # the suite it asks in another language (same cases): comparable with it
    "samples": "bigint",
    "temperature": "double",
    "top_p": "double",
    "max_tokens": "bigint",
    "seed": "bigint",
    "requests": "bigint",
    "mode": "string",
    "max_samples": "bigint",
    "budget_requests": "bigint",
    "budget_tokens": "bigint",
    "stop_reason": "string",  # sequential runs: decided, max_samples or budget
    "rounds": "bigint",
    "tokens_spent": "bigint",
    "judge": "string",  # the judge's provider (judge/), "none" without one
    "airflow_dag_id": "string",  # runs the DAG started: its DAG and run (the audit pages link to it)
    "airflow_run_id": "string",
}


def read_table(
    spark: SparkSession, warehouse: Path | str | Tables, name: str, run_id: str | None = None
) -> DataFrame:
    return open_tables(warehouse).read(spark, name, run_id)


def _show(frame: DataFrame, rows: int = 20, width: int = 60) -> str:
    """A plain-text excerpt for the log, like the lab's ``display``."""
    lines = [" | ".join(frame.columns)]
    for row in frame.limit(rows).collect():
        cells = ("" if value is None else str(value).replace("\n", " ") for value in row)
        lines.append(" | ".join(cell if len(cell) <= width else cell[: width - 3] + "..." for cell in cells))
    return "\n".join(lines)
