"""Answer scoring: what one answer says, read without statistics. Per-answer text features
(features.py, with the lexicons it reads) and the parsers of task suites (tasks.py).

Imports only the layers below it (errors, metric_registry, suites/model.py)."""
