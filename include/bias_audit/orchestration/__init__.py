"""The Airflow side of an audit: what the DAG's tasks need from Airflow and nothing else.

- params.py: the DAG's Params, derived from RunConfig, and the RunConfig of a DAG run;
- connections.py: a remote provider's settings from its Airflow connection;
- gate.py: the verdict gate (param ``fail_on``) and failing fast on user errors;
- notify.py: the DAG's on-failure callback and the user's notifier;
- run_note.py: the listener (registered by the plugin) that writes the verdict as the run's note.

Only this package, dags/, plugins/ and compute/ import Airflow; the job code does not.
"""
