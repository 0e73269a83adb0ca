"""``bias-audit-job``: the entry point of the project's wheel as a Databricks python_wheel_task.

The DAG's Databricks backend submits one run per stage with named parameters, which Databricks
passes as ``--name=value``:

    --task=generate --run_config=<RunConfig JSON> --runs_dir=/Volumes/... --tables=catalog:main.bias_audit
    --task=analyze  --run_id=<id> --runs_dir=... --tables=...
    --task=report   --run_id=<id> --runs_dir=... --tables=...

The LLM's credentials come from the cluster's environment (spark_env_vars referencing a secret
scope), never from the parameters. The last line of the output is ``BIAS_AUDIT_RESULT <json>``:
the stage's summary, which the DAG reads back with the runs get-output API. Bad input exits 2
with the problem on stderr, which Databricks reports as the run's error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bias_audit import stages
from bias_audit.config import RunConfig
from bias_audit.errors import ProviderSetupError, UserInputError
from bias_audit.run_folder import check_run_id

RESULT_PREFIX = "BIAS_AUDIT_RESULT "
USAGE_ERROR = "bias-audit-job: error: "  # how a bad-input failure starts (exit code 2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bias-audit-job", description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=("generate", "analyze", "report"))
    parser.add_argument("--run_config", help="generate: the run's RunConfig as JSON")
    parser.add_argument("--run_id", help="analyze, report: the run")
    parser.add_argument("--runs_dir", required=True, type=Path, help="where the runs' files are (a volume)")
    parser.add_argument("--tables", required=True, help="catalog:<catalog>.<schema>, or a path")
    parser.add_argument("--baseline", default=None, help="report: previous, none or a run id to compare with")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        result = _run(args)
    except (UserInputError, ProviderSetupError) as exc:
        print(f"{USAGE_ERROR}{exc}", file=sys.stderr)
        return 2
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)
    return 0


def _run(args: argparse.Namespace) -> dict[str, object]:
    if args.task == "generate":
        if not args.run_config:
            raise UserInputError("generate needs --run_config", field="run_config")
        try:
            config = RunConfig.model_validate_json(args.run_config)
        except ValueError as exc:
            raise UserInputError(f"not a valid run configuration ({exc})", field="run_config") from None
        return stages.generate(config, None, args.runs_dir)
    if not args.run_id:
        raise UserInputError(f"{args.task} needs --run_id", field="run_id")
    run_id = check_run_id(args.run_id)
    if args.task == "analyze":
        return stages.analyze(run_id, args.runs_dir, args.tables)
    return stages.report(run_id, args.runs_dir, args.tables, args.baseline)


def result_from_logs(logs: str) -> dict[str, object] | None:
    """The summary a run printed (its last result line), from the logs get-output returns."""
    for line in reversed(logs.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line.removeprefix(RESULT_PREFIX))
    return None


if __name__ == "__main__":
    sys.exit(main())
