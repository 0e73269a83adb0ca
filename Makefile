# The two commands a newcomer needs:  make demo  and  make test.
.PHONY: setup demo test lint wheel clean

setup:
	scripts/setup.sh

demo:
	scripts/demo.sh

test: setup
	scripts/ensure-chromium.sh
	.venv/bin/ruff check .
	.venv/bin/pytest

# The project's wheel for the Databricks backend (dist/bias_audit-<version>-py3-none-any.whl).
wheel: setup
	.venv/bin/pip wheel --quiet --no-deps --wheel-dir dist .
	@ls dist/*.whl

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

clean:
	rm -rf var .pytest_cache .ruff_cache
