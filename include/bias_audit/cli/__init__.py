"""``bias-audit``: the command line over the same job code the DAG runs.

One module per command group, each with ``register(commands)`` that adds its commands and their
handlers: suites.py (``suites list|show|validate|import-bold|import-winobias``), audit.py
(``generate``, ``plan``, ``analyze``, ``report``, ``compare``), calibrate.py (``calibrate``),
judge.py (``judge``, ``judge-check``, ``judge-labels``) and score.py (``score``). A handler returns
the exit status; a UserInputError anywhere is printed as one line and exits 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from bias_audit.cli import audit, calibrate, judge, score, suites
from bias_audit.errors import UserInputError

EXIT_USAGE = 2
GROUPS = (suites, audit, calibrate, judge, score)  # in the order ``bias-audit --help`` lists them


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpx2"):  # one line per request; our progress line says enough
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.handler(args)
    except UserInputError as exc:
        print(f"bias-audit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def parser() -> argparse.ArgumentParser:
    """Every command of every group."""
    made = argparse.ArgumentParser(prog="bias-audit", description=__doc__.splitlines()[0])
    commands = made.add_subparsers(required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return made
