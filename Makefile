# The two commands a newcomer needs:  make demo  and  make test.
.PHONY: setup demo test test-fast lint wheel clean airflow

setup:
	scripts/setup.sh

demo:
	scripts/demo.sh

test: setup
	scripts/ensure-chromium.sh
	scripts/ensure-postgres.sh
	.venv/bin/ruff check .
	.venv/bin/pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=20

# The pure layers' tests only (statistics, scoring, task kinds, suites, configuration, structure):
# no Spark, Airflow, browser or model; about a minute (tests/conftest.py marks them "fast").
test-fast: setup
	.venv/bin/pytest -m fast

# The Airflow UI on this machine without Docker: PostgreSQL, api-server, scheduler, dag-processor,
# triggerer, with the DAG and the plugin; prints the URL and login (state in var/airflow-native).
airflow: setup
	scripts/ensure-postgres.sh
	.venv/bin/python scripts/native_airflow.py

# The project's wheel for the Databricks backend (dist/bias_audit-<version>-py3-none-any.whl).
wheel: setup
	.venv/bin/pip wheel --quiet --no-deps --wheel-dir dist .
	@ls dist/*.whl

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

clean:
	rm -rf var .pytest_cache .ruff_cache
