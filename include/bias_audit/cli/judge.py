"""The LLM judge from the command line: ``judge``, ``judge-check``, ``judge-labels export|import``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bias_audit.llm.registry import PROVIDERS
from bias_audit.paths import runs_dir
from bias_audit.run_folder import check_run_id


def register(commands: argparse._SubParsersAction) -> None:
    """judge, judge-check, judge-labels"""
    jud = commands.add_parser(
        "judge", help="grade a generated run's answers for stereotyping with a judge model (judge/)"
    )
    jud.add_argument("--run-id", required=True)
    jud.add_argument("--out", type=Path, default=None, metavar="DIR", help="runs directory (as for generate)")
    _judge_arguments(jud)
    jud.set_defaults(handler=_judge)

    chk = commands.add_parser(
        "judge-check",
        help="the judge's agreement with the labelled set and its consistency (asked again, gender swapped)",
    )
    _judge_arguments(chk)
    chk.add_argument(
        "--labelled", type=Path, default=None, metavar="FILE",
        help="a labelled set of your own (JSON lines: id, prompt, answer, label 0-3, variant); "
        "default: the built-in 200 answers",
    )  # fmt: skip
    chk.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="runs directory (the check is kept there)"
    )
    chk.add_argument("--json", action="store_true", help="print the check as JSON")
    chk.set_defaults(handler=_judge_check)

    lab = commands.add_parser(
        "judge-labels", help="human grades of a sample of a run's answers, for the judge-corrected interval"
    )
    lab_commands = lab.add_subparsers(required=True, metavar="ACTION")
    export = lab_commands.add_parser(
        "export", help="write a random sample of the run's answers to label (CSV)"
    )
    export.add_argument("--run-id", required=True)
    export.add_argument("--out", type=Path, default=None, metavar="DIR", help="runs directory")
    export.add_argument("--cases", type=int, default=20, metavar="N", help="cases to sample (default 20)")
    export.add_argument(
        "--per-variant", type=int, default=2, metavar="K", help="answers per group and case (default 2)"
    )
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--file", type=Path, required=True, metavar="CSV", help="where to write the sheet")
    export.set_defaults(handler=_labels_export)
    load = lab_commands.add_parser("import", help="record a labelled sheet with the run (labels.jsonl)")
    load.add_argument("--run-id", required=True)
    load.add_argument("--out", type=Path, default=None, metavar="DIR", help="runs directory")
    load.add_argument("file", type=Path, metavar="CSV")
    load.set_defaults(handler=_labels_import)


def _judge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--judge", required=True, choices=PROVIDERS,
        help="the judge: azure/openai read BIAS_AUDIT_JUDGE_<VARIABLE>, else the provider's own variables",
    )  # fmt: skip
    parser.add_argument(
        "--judge-tpm", type=int, default=None, metavar="N", help="the judge's tokens per minute"
    )
    parser.add_argument(
        "--judge-rpm", type=int, default=None, metavar="N", help="the judge's requests per minute"
    )
    parser.add_argument("--concurrency", type=int, default=None, metavar="N", help="most requests in flight")


def _judge_limits(args: argparse.Namespace):
    """The judge's quota and concurrency from the flags of ``_judge_arguments``."""
    from bias_audit.judge.grading import JudgeLimits

    return JudgeLimits(args.judge_tpm, args.judge_rpm, args.concurrency)


def _judge(args: argparse.Namespace) -> int:
    from bias_audit import stages

    result = stages.grade(check_run_id(args.run_id), args.judge, args.out or runs_dir(), _judge_limits(args))
    print(f"graded {result['answers']} answers ({result['asked']} asked of the judge): {result['statuses']}")
    print(f"the judge's check: {result['check']}; analyse the run again to see the stereotyping gap")
    return 0


def _judge_check(args: argparse.Namespace) -> int:
    from bias_audit.judge.check import LABELLED, check_table, run_check
    from bias_audit.llm.registry import judge_environment, make_provider

    provider = make_provider(args.judge, env=judge_environment())
    path = run_check(provider, args.out or runs_dir(), _judge_limits(args), args.labelled or LABELLED)
    check = json.loads(path.read_text(encoding="utf-8"))
    print(json.dumps(check, indent=2) if args.json else check_table(check))
    print(f"kept in {path}", file=sys.stderr)
    return 0


def _labels_export(args: argparse.Namespace) -> int:
    from bias_audit.judge.labels import export_sheet

    count = export_sheet(
        check_run_id(args.run_id), args.out or runs_dir(), args.file,
        cases=args.cases, per_variant=args.per_variant, seed=args.seed,
    )  # fmt: skip
    print(f"{count} answers to label in {args.file}: fill the column 'label' (0-3, rubric in docs/judge.md)")
    return 0


def _labels_import(args: argparse.Namespace) -> int:
    from bias_audit.judge.labels import import_sheet

    count, path = import_sheet(check_run_id(args.run_id), args.out or runs_dir(), args.file)
    print(f"{count} labels recorded in {path}; analyse the run again for the judge-corrected interval")
    return 0
