"""Where tables live: Parquet directories, or catalog tables (Delta in Unity Catalog on
Databricks; here a local Spark catalog with Parquet, as Delta's jars are not available)."""

from __future__ import annotations

import pytest

from bias_audit.analyze.job import analyze, read_table
from bias_audit.catalog import read_runs
from bias_audit.errors import UserInputError
from bias_audit.report import write_report
from bias_audit.tables import CatalogTables, ParquetTables, open_tables
from tests.factories import record, write_run


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/data/warehouse", ParquetTables),
        ("catalog:main.bias_audit", CatalogTables("main", "bias_audit", "delta")),
        ("catalog:main.bias_audit?format=parquet", CatalogTables("main", "bias_audit", "parquet")),
    ],
)
def test_open_tables_reads_the_location(location, expected):
    tables = open_tables(location)
    if isinstance(expected, type):
        assert isinstance(tables, expected) and tables.location == location
    else:
        assert tables == expected and tables.table_name("runs") == "`main`.`bias_audit`.`runs`"


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("catalog:main", "expected catalog:<catalog>.<schema>"),
        ("catalog:main.x?mode=fast", "expected catalog:<catalog>.<schema>"),
        ("catalog:main.bad-name", "tables.schema: not a valid identifier (value: 'bad-name')"),
        ("catalog:main.x?format=delta;drop", "tables.format: not a valid identifier"),
    ],
)
def test_bad_table_locations_are_named(location, message):
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        open_tables(location)


def lab(run_id: str, samples: int = 5) -> list:
    return [
        record(run_id, "nurse", variant, i, f"{pronoun} is a nurse.")
        for variant, pronoun in (("neutral", "She"), ("male", "He"))
        for i in range(samples)
    ]


def test_catalog_tables_are_written_idempotently_per_run(spark, tmp_path):
    runs = tmp_path / "runs"
    tables = CatalogTables("spark_catalog", "bias_audit_test", "parquet")
    for run_id in ("a", "b"):
        write_run(runs, run_id, lab(run_id))
        analyze(run_id, runs, tables, spark)
    before = {
        r["run_id"]: r["count"]
        for r in read_table(spark, tables, "responses").groupBy("run_id").count().collect()
    }
    assert before == {"a": 10, "b": 10}
    write_run(runs, "a", lab("a", samples=6))  # a re-analysis with more answers replaces run a only
    result = analyze("a", runs, tables, spark)
    after = {
        r["run_id"]: r["count"]
        for r in read_table(spark, tables, "responses").groupBy("run_id").count().collect()
    }
    assert after == {"a": 12, "b": 10}
    assert result.warehouse == "catalog:spark_catalog.bias_audit_test"
    assert read_table(spark, tables, "runs").count() == 2
    assert spark.catalog.tableExists("spark_catalog.bias_audit_test.metrics")
    # the report and the trends read catalog tables through Spark
    html = write_report("a", runs, tables).read_text()
    assert "She is a nurse." in html
    assert {r["run_id"] for r in read_runs(tables)} == {"a", "b"}


@pytest.mark.parametrize("kind", ["parquet", "catalog"])
def test_a_column_added_by_a_newer_job_is_stored_and_reads_as_null_for_older_runs(spark, tmp_path, kind):
    # Metrics tables written before the job recorded `cases` and `method` must keep working.
    tables = (
        ParquetTables(tmp_path / "warehouse")
        if kind == "parquet"
        else CatalogTables("spark_catalog", "bias_audit_evolve", "parquet")
    )
    tables.write(
        spark.createDataFrame([("old", "sentiment", 0.1)], "run_id STRING, metric STRING, d DOUBLE"), "m"
    )
    newer = spark.createDataFrame(
        [("new", "sentiment", 0.2, 12, "within-case, t over cases")],
        "run_id STRING, metric STRING, d DOUBLE, cases BIGINT, method STRING",
    )
    tables.write(newer, "m")
    rows = {r["run_id"]: r for r in tables.read(spark, "m").collect()}
    assert set(rows) == {"old", "new"}
    assert (rows["new"]["cases"], rows["new"]["method"]) == (12, "within-case, t over cases")
    assert rows["old"]["cases"] is None and rows["old"]["d"] == 0.1
