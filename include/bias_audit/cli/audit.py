"""The stages of an audit from the command line: ``generate``, ``plan``, ``analyze``, ``report``,
``compare``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError
from bias_audit.named_files import text_or_file
from bias_audit.parameters import add_arguments, values_from
from bias_audit.paths import runs_dir, warehouse_dir
from bias_audit.plan import PRICES, PRICES_READ
from bias_audit.run_folder import check_run_id
from bias_audit.suites import load_suite


def register(commands: argparse._SubParsersAction) -> None:
    """generate, plan, analyze, report, compare"""
    gen = commands.add_parser("generate", help="send a suite's prompts to the model and record the answers")
    gen.add_argument("--run-id", required=True)
    gen.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="runs directory (default: $BIAS_AUDIT_HOME/runs)",
    )
    add_arguments(gen)  # every parameter of RunConfig: --suite, --samples, --provider ...
    gen.add_argument(
        "--sequential",
        dest="mode",
        action="store_const",
        const="sequential",
        default=argparse.SUPPRESS,
        help="same as --mode sequential: sample in rounds, stop once the verdict is settled",
    )
    gen.set_defaults(handler=_generate)

    pla = commands.add_parser(
        "plan",
        help="what an audit will ask before it asks anything: requests, tokens, time at the quota, cost",
    )
    add_arguments(pla)  # the run's parameters, as for generate
    pla.add_argument(
        "--sequential", dest="mode", action="store_const", const="sequential", default=argparse.SUPPRESS,
        help="plan a sequential run only (default: plan both designs unless --mode is given)",
    )  # fmt: skip
    for flag, what in (("--price-input", "prompt"), ("--price-output", "answer")):
        pla.add_argument(flag, type=float, default=None, metavar="P", help=f"price per 1M {what} tokens")
    pla.add_argument(
        "--price-model", default=None, metavar="MODEL",
        help=f"the list prices of a common Azure OpenAI model ({', '.join(PRICES)}; read {PRICES_READ})",
    )  # fmt: skip
    pla.add_argument(
        "--fair-runs", type=int, default=None, metavar="N",
        help="synthetic fair audits behind a sequential plan's typical figure (default: 5, more until "
        "their mean is known within 5 %%, at most 40)",
    )  # fmt: skip
    pla.add_argument("--json", action="store_true", help="machine-readable output")
    pla.set_defaults(handler=_plan)

    ana = commands.add_parser("analyze", help="run the Spark job on a generated run")
    _run_location_arguments(ana)
    ana.set_defaults(handler=_analyze)

    rep = commands.add_parser("report", help="write the HTML report of an analysed run (into DIR/RUN_ID)")
    _run_location_arguments(rep)
    rep.set_defaults(handler=_report)

    cmp = commands.add_parser(
        "compare",
        help="did the gaps change between two audits of the same suite? (writes comparison.json/.html)",
    )
    cmp.add_argument(
        "--baseline", required=True, metavar="RUN", help="the earlier audit, e.g. before a mitigation"
    )
    cmp.add_argument("--candidate", required=True, metavar="RUN", help="the audit to judge against it")
    cmp.add_argument("--out", type=Path, default=None, metavar="DIR", help="runs directory (as for report)")
    cmp.add_argument("--warehouse", type=Path, default=None, metavar="PATH", help="tables (as for report)")
    cmp.add_argument("--json", action="store_true", help="print the comparison as JSON")
    cmp.set_defaults(handler=_compare)


def _run_location_arguments(parser: argparse.ArgumentParser) -> None:
    """--run-id, --out and --warehouse: where an analysed run's files and tables are."""
    parser.add_argument("--run-id", required=True)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="runs directory (default: $BIAS_AUDIT_HOME/runs)",
    )
    parser.add_argument(
        "--warehouse",
        type=Path,
        default=None,
        metavar="PATH",
        help="tables directory (default: $BIAS_AUDIT_HOME/warehouse)",
    )


def _generate(args: argparse.Namespace) -> int:
    from bias_audit.generate import generate, preflight
    from bias_audit.llm import make_provider

    values = values_from(args)
    if "system_prompt" in values:  # the command line reads the user's own files (named_files.py)
        values["system_prompt"] = text_or_file(values["system_prompt"])
    config = RunConfig.build(run_id=args.run_id, **values)
    preflight(config)  # fail on a bad suite or budget before loading a model
    result = generate(config, args.out or runs_dir(), make_provider(config.provider))
    print(
        f"recorded {result.total} answers ({result.already_recorded} from before) "
        f"in {result.run_dir}; outcomes of this pass: {result.outcomes}"
    )
    if config.judge != "none":
        from bias_audit import stages

        graded = stages.judge_run(config, args.out or runs_dir())
        print(f"judge {config.judge}: grades {graded['statuses']}; its check: {graded['check']}")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from bias_audit.plan import plan_run

    values = values_from(args)
    if "system_prompt" in values:
        values["system_prompt"] = text_or_file(values["system_prompt"])
    if args.fair_runs is not None and args.fair_runs < 1:
        raise UserInputError(f"must be >= 1 (value: {args.fair_runs})", field="--fair-runs")
    if "mode" in values:
        configs = [RunConfig.build(run_id="plan", **values)]
    else:  # both designs: each with its own parameters
        fixed = {k: v for k, v in values.items() if k not in ("max_samples", "looks")}
        sequential = {k: v for k, v in values.items() if k != "samples"}
        configs = [
            RunConfig.build(run_id="plan", mode="fixed", **fixed),
            RunConfig.build(run_id="plan", mode="sequential", **sequential),
        ]
    suite = load_suite(configs[0].suite)
    plan = plan_run(
        suite, configs, price_input=args.price_input, price_output=args.price_output,
        price_model=args.price_model,
        fair_runs=args.fair_runs,
    )  # fmt: skip
    print(json.dumps(plan.as_dict(), indent=2) if args.json else plan.in_words())
    return 0


def _report(args: argparse.Namespace) -> int:
    from bias_audit.report import write_report

    path = write_report(check_run_id(args.run_id), args.out or runs_dir(), args.warehouse or warehouse_dir())
    print(path)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from bias_audit.compare import compare_and_record

    baseline, candidate = check_run_id(args.baseline), check_run_id(args.candidate)
    warehouse = args.warehouse or warehouse_dir()
    result, data, page = compare_and_record(baseline, candidate, args.out or runs_dir(), warehouse)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        print(f"{candidate} against {baseline}: {result.conclusion}")
        if result.languages:
            print(f"  {result.languages}")
        for name, before, after in result.differences:
            print(f"  differs: {name}: {before!r} -> {after!r}")
        print(f"comparison: {data}\npage: {page}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from bias_audit.analyze.job import analyze

    result = analyze(check_run_id(args.run_id), args.out or runs_dir(), args.warehouse or warehouse_dir())
    print(json.dumps(result.as_dict(), indent=2))
    return 0
