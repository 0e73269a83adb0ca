"""One SparkSession per process, configured for per-run partition overwrites."""

from __future__ import annotations

import os
import shutil
import sys

from bias_audit.errors import UserInputError
from bias_audit.paths import data_home


def get_spark():  # -> pyspark.sql.SparkSession (kept lazy: importing pyspark is slow)
    """The active session (Databricks, a test's) or a new local one; ``$BIAS_AUDIT_SPARK_MASTER``."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is None and os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        # a job on a Databricks cluster (e.g. a python_wheel_task): attach to the cluster's Spark
        active = SparkSession.builder.getOrCreate()
    if active is None:
        _require_java()
        # Python workers (pandas UDFs) must run the interpreter that has this package's dependencies,
        # not whatever `python3` is first on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        active = (
            SparkSession.builder.master(os.environ.get("BIAS_AUDIT_SPARK_MASTER", "local[*]"))
            .appName("bias-audit")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.driver.extraJavaOptions", "-Dderby.system.home=/tmp")
            # managed catalog tables (tables.CatalogTables) of a local session live here, not in the cwd
            .config("spark.sql.warehouse.dir", str(data_home() / "spark-warehouse"))
            .getOrCreate()
        )
        active.sparkContext.setLogLevel("ERROR")
    # Overwriting a run replaces that run's partition only, never other runs' rows.
    active.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    active.conf.set("spark.sql.session.timeZone", "UTC")
    return active


def _require_java() -> None:
    if os.environ.get("JAVA_HOME") or shutil.which("java"):
        return
    raise UserInputError(
        "PySpark needs a Java runtime (17 or 21) and none was found: install one "
        "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME",
        field="JAVA_HOME",
    )
