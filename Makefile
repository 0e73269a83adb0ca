# The two commands a newcomer needs:  make demo  and  make test.
.PHONY: setup demo test lint clean

setup:
	scripts/setup.sh

demo:
	scripts/demo.sh

test: setup
	scripts/ensure-chromium.sh
	.venv/bin/ruff check .
	.venv/bin/pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

clean:
	rm -rf var .pytest_cache .ruff_cache
