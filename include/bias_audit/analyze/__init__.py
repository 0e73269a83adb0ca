"""The Spark job: builds and stores a run's DataFrames (job.py) on a SparkSession (spark.py), scoring
answers with scoring/ and computing metrics and the verdict with stats/."""
