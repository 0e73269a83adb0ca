"""The analysis stage: Spark DataFrames, per-answer features, and (soon) metrics and statistics."""
