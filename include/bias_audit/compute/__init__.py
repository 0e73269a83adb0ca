"""Compute backends: where generation and the Spark job run, and the lifecycle of that compute.

``local`` (the default) runs both in the current process with local PySpark; ``databricks``
runs them on a Databricks cluster (databricks.py). The backend is chosen with
``$BIAS_AUDIT_COMPUTE`` in the environment of the Airflow components.
"""

from __future__ import annotations

import os

from bias_audit.errors import UserInputError

BACKENDS = ("local", "databricks")


def backend_name() -> str:
    name = os.environ.get("BIAS_AUDIT_COMPUTE", "local")
    if name not in BACKENDS:
        raise UserInputError(
            f"unknown compute backend {name!r}; available: {', '.join(BACKENDS)}", field="BIAS_AUDIT_COMPUTE"
        )
    return name
