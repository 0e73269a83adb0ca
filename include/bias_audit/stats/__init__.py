"""Pure statistics of an audit, no Spark and no I/O: the interval methods (statistics.py), the
within-case gap (within_case.py) and per-case findings (per_case.py), the metric rows of a run
(metrics.py) and its verdict (verdict.py), sequential looks (sequential.py), decision effects
(decisions.py), a run's health (health.py) and the change between two audits (change.py).

Imports only the layers below it (errors, metric_registry, thresholds, schedule, scoring/)."""
