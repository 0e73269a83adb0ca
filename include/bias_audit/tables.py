"""Where the tables (runs, responses, features, metrics) live, and how one run's rows are written
and read back.

- ``ParquetTables``: Parquet directories under a warehouse path, partitioned by ``run_id`` — the
  local default (Delta's jars cannot be fetched here, and plain Parquet needs none).
- ``CatalogTables``: tables in a catalog, ``<catalog>.<schema>.<table>`` — on Databricks, Delta
  tables in Unity Catalog. Also partitioned by ``run_id``.

Both write idempotently per run: writing a run again replaces that run's rows (dynamic partition
overwrite) and leaves every other run as it was. A location is named by a string: a path, or
``catalog:<catalog>.<schema>`` (format Delta; ``catalog:<catalog>.<schema>?format=parquet`` for
another format).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bias_audit.errors import UserInputError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Tables(Protocol):
    location: str

    def write(self, frame: DataFrame, name: str, partition_by: tuple[str, ...] = ("run_id",)) -> None: ...

    def read(self, spark: SparkSession, name: str, run_id: str | None = None) -> DataFrame: ...

    def rows(self, name: str, run_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Rows as dicts (with ``run_id``); of one run, or of all runs."""
        ...


@dataclass(frozen=True)
class ParquetTables:
    warehouse: Path

    @property
    def location(self) -> str:
        return str(self.warehouse)

    def write(self, frame: DataFrame, name: str, partition_by: tuple[str, ...] = ("run_id",)) -> None:
        # spark.sql.sources.partitionOverwriteMode=dynamic (analyze/spark.py): only this run's partition
        frame.write.mode("overwrite").partitionBy(*partition_by).parquet(str(self.warehouse / name))

    def read(self, spark: SparkSession, name: str, run_id: str | None = None) -> DataFrame:
        from pyspark.sql import functions as F

        # mergeSchema: partitions written before a column existed are read with it as null.
        frame = spark.read.option("mergeSchema", "true").parquet(str(self.warehouse / name))
        return frame if run_id is None else frame.filter(F.col("run_id") == run_id)

    def rows(self, name: str, run_id: str | None = None) -> Iterator[dict[str, Any]]:
        # pyarrow, partition by partition: no Spark needed, and partitions written before a column
        # existed are read with the columns they have.
        import pyarrow.parquet as pq

        table = self.warehouse / name
        parts = [table / f"run_id={run_id}"] if run_id is not None else sorted(table.glob("run_id=*"))
        for part in parts:
            if part.is_dir():
                part_run_id = part.name.removeprefix("run_id=")
                for row in pq.read_table(part).to_pylist():
                    yield {**row, "run_id": part_run_id}


@dataclass(frozen=True)
class CatalogTables:
    catalog: str
    schema: str
    format: str = "delta"

    def __post_init__(self) -> None:
        for field, value in (("catalog", self.catalog), ("schema", self.schema), ("format", self.format)):
            if not _IDENTIFIER.match(value):
                raise UserInputError(f"not a valid identifier (value: {value!r})", field=f"tables.{field}")

    @property
    def location(self) -> str:
        return f"catalog:{self.catalog}.{self.schema}"

    def table_name(self, name: str) -> str:
        return f"`{self.catalog}`.`{self.schema}`.`{name}`"

    def write(self, frame: DataFrame, name: str, partition_by: tuple[str, ...] = ("run_id",)) -> None:
        spark = frame.sparkSession
        full = self.table_name(name)
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{self.catalog}`.`{self.schema}`")
        if not spark.catalog.tableExists(f"{self.catalog}.{self.schema}.{name}"):
            frame.write.format(self.format).partitionBy(*partition_by).saveAsTable(full)
            log.info("created table %s (%s)", full, self.format)
            return
        # INSERT OVERWRITE with dynamic partitions (Delta and Parquet tables alike): the run's
        # partition is replaced, the others stay. insertInto matches by position: use the table's order.
        columns = spark.table(full).columns
        extra = [c for c in frame.columns if c not in columns]
        if extra:
            # A newer version of the job adds columns: add them to the table (nullable, so the
            # rows of earlier runs read them as null) rather than dropping them.
            added = ", ".join(f"`{c}` {frame.schema[c].dataType.simpleString()}" for c in extra)
            spark.sql(f"ALTER TABLE {full} ADD COLUMNS ({added})")
            log.info("table %s: added columns %s", full, extra)
            columns = spark.table(full).columns
        missing = [c for c in columns if c not in frame.columns]
        from pyspark.sql import functions as F

        aligned = frame.select(*[F.col(c) if c not in missing else F.lit(None).alias(c) for c in columns])
        previous = spark.conf.get("spark.sql.sources.partitionOverwriteMode")
        spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
        try:
            aligned.write.insertInto(full, overwrite=True)
        finally:
            spark.conf.set("spark.sql.sources.partitionOverwriteMode", previous)

    def read(self, spark: SparkSession, name: str, run_id: str | None = None) -> DataFrame:
        from pyspark.sql import functions as F

        frame = spark.table(self.table_name(name))
        return frame if run_id is None else frame.filter(F.col("run_id") == run_id)

    def rows(self, name: str, run_id: str | None = None) -> Iterator[dict[str, Any]]:
        from bias_audit.analyze.spark import get_spark

        spark = get_spark()
        if not spark.catalog.tableExists(f"{self.catalog}.{self.schema}.{name}"):
            return
        for row in self.read(spark, name, run_id).collect():
            yield row.asDict()


def open_tables(location: str | Path | Tables) -> Tables:
    """The tables at a location: a warehouse path, or ``catalog:<catalog>.<schema>[?format=F]``."""
    if isinstance(location, ParquetTables | CatalogTables):
        return location
    text = str(location)
    if not text.startswith("catalog:"):
        return ParquetTables(Path(text).expanduser())
    spec, _, query = text.removeprefix("catalog:").partition("?")
    catalog, _, schema = spec.partition(".")
    options = dict(item.partition("=")[::2] for item in query.split("&") if item)
    unknown = set(options) - {"format"}
    if not catalog or not schema or unknown:
        raise UserInputError(
            f"expected catalog:<catalog>.<schema>[?format=delta|parquet] (value: {text!r})", field="tables"
        )
    return CatalogTables(catalog, schema, options.get("format", "delta"))
