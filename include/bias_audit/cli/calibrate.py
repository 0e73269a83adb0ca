"""``bias-audit calibrate``: false alarms, power and sample sizes of the verdict on synthetic runs
(bias_audit.calibrate)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bias_audit.errors import UserInputError
from bias_audit.metric_registry import CALIBRATED
from bias_audit.parameters import json_or_file
from bias_audit.paths import warehouse_dir
from bias_audit.run_folder import check_run_id
from bias_audit.stats.design import DEFAULT_MAX_SAMPLES
from bias_audit.suites import load_suite
from bias_audit.thresholds import Thresholds


def register(commands: argparse._SubParsersAction) -> None:
    """calibrate"""
    cal = commands.add_parser(
        "calibrate",
        help="false-alarm rate, power and the smallest detectable gap of the verdict, on synthetic runs",
    )
    cal.add_argument(
        "--suite",
        default=None,
        metavar="NAME|FILE",
        help="layout to simulate (default: the --from-run run's suite, else seed-lab)",
    )
    cal.add_argument("--samples", type=int, default=5, metavar="K", help="answers per prompt (default 5)")
    cal.add_argument("--runs", type=int, default=100, metavar="N", help="synthetic runs per condition")
    cal.add_argument("--thresholds", default=None, metavar="JSON|FILE", help="as for generate")
    cal.add_argument(
        "--metric", action="append", choices=CALIBRATED, default=None, help="only this metric (repeatable)"
    )
    cal.add_argument(
        "--from-run",
        default=None,
        metavar="RUN",
        help="estimate case, prompt and answer variation from this analysed run instead of the defaults",
    )
    cal.add_argument(
        "--warehouse",
        type=Path,
        default=None,
        metavar="PATH",
        help="tables of --from-run (default as analyze)",
    )
    cal.add_argument(
        "--group",
        default=None,
        help="the group the gap is injected into (default: female, if the suite has it)",
    )
    cal.add_argument(
        "--compare",
        action="store_true",
        help="calibrate bias-audit compare instead: false reduced/increased findings, the power to see "
        "a reduction",
    )
    cal.add_argument(
        "--sequential",
        action="store_true",
        help="calibrate sequential audits instead: false alarms under monitoring after every round, "
        "power, and the requests spent until a decision",
    )
    cal.add_argument(
        "--samples-needed",
        action="store_true",
        help="find the fewest samples per prompt (1, 2, 3, 5, 10, 20, 50) that detect a gap of each "
        "metric's fail threshold with 90 %% power",
    )
    cal.add_argument(
        "--max-samples",
        type=int,
        default=None,
        metavar="K",
        help=f"with --sequential: the most samples per prompt (default {DEFAULT_MAX_SAMPLES})",
    )
    cal.add_argument(
        "--looks",
        default=None,
        metavar="N,N,...",
        help="with --sequential: samples per prompt at each look, e.g. 1,3,10,30 (default: the suite's)",
    )
    cal.add_argument(
        "--spend",
        default=None,
        metavar="W,W,...",
        help="with --sequential: relative share of alpha at each look, then one for the look at "
        "max_samples, e.g. 0.5,2,2,1 with --looks 1,3,10 (default: the suite's spend with its looks, "
        "equal shares with --looks)",
    )
    cal.add_argument("--json", action="store_true", help="machine-readable output")
    cal.set_defaults(handler=_calibrate)


def _calibrate(args: argparse.Namespace) -> int:
    from bias_audit.calibrate import format_variation

    _check_flags(args)
    looks, spend = _looks(args), _spend(args)
    thresholds = Thresholds.from_overrides(json_or_file(args.thresholds, "--thresholds"))
    variation, run_suite = _variation_of_run(args) if args.from_run else (None, None)
    suite = load_suite(args.suite or run_suite or "seed-lab")
    _check_group_and_metrics(args, suite)
    how, header, size, run = _what_to_calibrate(args, suite, looks, spend, thresholds.alpha)
    if not args.json:
        print(f"{args.runs} synthetic runs of {suite.name!r} per condition, {how}")
        if variation:
            print(f"variation estimated from run {args.from_run}:\n{format_variation(variation)}")
        print(header)
    results = run(
        suite,
        size,
        runs=args.runs,
        thresholds=thresholds,
        metrics=tuple(args.metric) if args.metric else None,
        variation=variation,
        target=args.group,
        progress=None if args.json else print,
    )
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    return 0


def _check_flags(args: argparse.Namespace) -> None:
    for flag, value in (
        ("--samples", args.samples),
        ("--runs", args.runs),
        ("--max-samples", args.max_samples),
    ):
        if value is not None and value < 1:
            raise UserInputError(f"must be >= 1 (value: {value})", field=flag)
    sequential_only = (("--max-samples", args.max_samples), ("--looks", args.looks), ("--spend", args.spend))
    for flag, value in sequential_only:
        if value is not None and not args.sequential:
            raise UserInputError("applies to --sequential only", field=flag)
    if sum((args.sequential, args.compare, args.samples_needed)) > 1:
        raise UserInputError(
            "calibrates one thing at a time: give one of --sequential, --compare, --samples-needed",
            field="--sequential",
        )


def _looks(args: argparse.Namespace) -> tuple[int, ...] | None:
    from bias_audit.schedule import parse_schedule

    if args.looks is None:
        return None
    try:
        return parse_schedule(args.looks)
    except ValueError as exc:
        raise UserInputError(str(exc), field="--looks") from None


def _spend(args: argparse.Namespace) -> tuple[float, ...] | None:
    if args.spend is None:
        return None
    try:
        return tuple(float(part) for part in args.spend.replace(";", ",").split(",") if part.strip())
    except ValueError:
        raise UserInputError(
            f"relative shares of alpha, comma-separated, e.g. 0.5,2,2,1 (value: {args.spend!r})",
            field="--spend",
        ) from None


def _check_group_and_metrics(args: argparse.Namespace, suite) -> None:
    from bias_audit.calibrate import layout
    from bias_audit.metric_registry import calibrated
    from bias_audit.scoring.tasks import Scoring

    variants = sorted({v for variants in layout(suite).values() for v in variants})
    scoring = Scoring.of_suite(suite)
    # crossed groups (tasks/crossed.py): the compared groups (black, black female), not the variants
    groups = scoring.groups(variants) if scoring.crossed is not None else variants
    if args.group is not None and args.group not in groups:
        raise UserInputError(
            f"not a group of suite {suite.name!r}: {', '.join(groups)} (value: {args.group!r})",
            field="--group",
        )
    task, language = scoring.task, suite.language
    for metric in args.metric or ():
        if metric not in calibrated(task, language):
            raise UserInputError(
                f"not measured on suite {suite.name!r}; its metrics: {', '.join(calibrated(task, language))} "
                f"(value: {metric!r})",
                field="--metric",
            )


def _what_to_calibrate(
    args: argparse.Namespace,
    suite,
    looks: tuple[int, ...] | None,
    spend: tuple[float, ...] | None,
    alpha: float,
):
    """What the run calibrates, in words; its table's header; the samples per prompt; the call."""
    from bias_audit.calibrate import (
        COMPARE_HEADER,
        HEADER,
        SAMPLE_SIZE_HEADER,
        SEQUENTIAL_HEADER,
        calibrate,
        calibrate_compare,
        calibrate_sequential,
        samples_needed,
    )
    from bias_audit.stats.design import suite_design

    if args.sequential:
        if spend is not None and looks is None and suite.sequential is None:
            raise UserInputError(
                f"shares alpha over looks: give --looks (suite {suite.name!r} sets none of its own)",
                field="--spend",
            )
        try:
            size = args.max_samples or DEFAULT_MAX_SAMPLES
            design = suite_design(suite, size, looks=looks, spend=spend, alpha=alpha)
        except ValueError as exc:
            raise UserInputError(str(exc), field="--spend") from None

        def sequential(suite, size, **options):
            return calibrate_sequential(suite, size, looks=looks, spend=spend, **options)

        return f"sequential, {design.describe()}", SEQUENTIAL_HEADER, design.max_samples, sequential
    if args.samples_needed:

        def needed(suite, _size, **options):
            return samples_needed(suite, **options)

        return "the fewest samples per prompt for 90 % power", SAMPLE_SIZE_HEADER, None, needed
    header = COMPARE_HEADER if args.compare else HEADER
    return (
        f"{args.samples} samples per prompt",
        header,
        args.samples,
        calibrate_compare if args.compare else calibrate,
    )


def _variation_of_run(args: argparse.Namespace):
    """The variance components of an analysed run's answers, and the name of its suite."""
    from bias_audit.calibrate import estimate_variation
    from bias_audit.stats.metrics import answer_values
    from bias_audit.tables import open_tables

    run_id = check_run_id(args.from_run)
    tables = open_tables(args.warehouse or warehouse_dir())
    rows = list(tables.rows("features", run_id))
    if not rows:
        raise UserInputError(
            f"no analysed run {run_id!r} in the warehouse; run analyze first", source=tables.location
        )
    return estimate_variation(answer_values(rows)), rows[0].get("suite")
