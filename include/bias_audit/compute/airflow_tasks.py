"""What the DAG's tasks need from Airflow's side: params -> RunConfig, user errors -> no retry.

Kept here (compute/ may know Airflow; the job code may not) so the DAG file stays wiring only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bias_audit.config import RunConfig, safe_run_id
from bias_audit.errors import UserInputError


def run_config(params: Mapping[str, Any], airflow_run_id: str) -> RunConfig:
    """The audit's RunConfig from the DAG run's params; its run_id from Airflow's, made path-safe."""
    return RunConfig.build(
        run_id=safe_run_id(airflow_run_id),
        suite=params["suite"],
        samples=params["samples"],
        provider=params["provider"],
        max_tokens=params.get("max_tokens"),
        temperature=params.get("temperature"),
        top_p=params.get("top_p"),
        seed=params.get("seed", 0),
    )


@contextmanager
def fail_fast_on_user_error() -> Iterator[None]:
    """A bad param or suite will not get better on retry: fail the task without retrying."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except UserInputError as exc:
        raise AirflowFailException(str(exc)) from None
