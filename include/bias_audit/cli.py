"""``bias-audit``: the command line over the same job code the DAG runs."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError
from bias_audit.metric_registry import CALIBRATED
from bias_audit.named_files import text_or_file
from bias_audit.parameters import add_arguments, json_or_file, values_from
from bias_audit.paths import runs_dir, warehouse_dir
from bias_audit.run_folder import check_run_id
from bias_audit.stats.sequential import DEFAULT_MAX_SAMPLES
from bias_audit.suites import builtin_suite_names, load_suite
from bias_audit.thresholds import Thresholds

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpx2"):  # one line per request; our progress line says enough
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.handler(args)
    except UserInputError as exc:
        print(f"bias-audit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bias-audit", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    suites = commands.add_parser("suites", help="list, show and validate prompt suites")
    suite_commands = suites.add_subparsers(required=True, metavar="ACTION")
    listing = suite_commands.add_parser("list", help="list the built-in suites")
    listing.set_defaults(handler=_suites_list)
    show = suite_commands.add_parser("show", help="show a suite's prompts")
    show.add_argument("suite", metavar="NAME|FILE")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(handler=_suites_show)
    validate = suite_commands.add_parser("validate", help="check a suite file")
    validate.add_argument("file", metavar="FILE")
    validate.set_defaults(handler=_suites_validate)
    bold = suite_commands.add_parser("import-bold", help="turn a BOLD prompt file into a suite")
    bold.add_argument(
        "file", metavar="FILE", type=Path, help="BOLD gender_prompt.json or profession_prompt.json"
    )
    bold.add_argument("--domain", choices=("gender", "profession"), required=True)
    bold.add_argument(
        "--max-per-group", type=int, default=50, metavar="N", help="people or professions per group"
    )
    bold.add_argument("--seed", type=int, default=0, help="which N are sampled (default 0)")
    bold.add_argument(
        "--out", type=Path, default=None, metavar="FILE", help="write the suite here (default: stdout)"
    )
    bold.set_defaults(handler=_suites_import_bold)
    wino = suite_commands.add_parser(
        "import-winobias", help="turn the WinoBias sentence files into a choice-task suite"
    )
    wino.add_argument("directory", metavar="DIR", type=Path, help="the WinoBias data folder (wino/data)")
    wino.add_argument(
        "--split", action="append", choices=("dev", "test"), default=None,
        help="which split's line pairs (repeatable; default: test)",
    )  # fmt: skip
    wino.add_argument(
        "--out", type=Path, default=None, metavar="FILE", help="write the suite here (default: stdout)"
    )
    wino.set_defaults(handler=_suites_import_winobias)

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
        "--fair-runs", type=int, default=None, metavar="N",
        help="synthetic fair audits behind a sequential plan's typical figure (default 5)",
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
    cal.add_argument("--json", action="store_true", help="machine-readable output")
    cal.set_defaults(handler=_calibrate)

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
    return parser


def _judge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--judge", required=True, choices=("local", "azure", "openai"),
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

    result = stages.judge(check_run_id(args.run_id), args.judge, args.out or runs_dir(), _judge_limits(args))
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


def _suites_list(args: argparse.Namespace) -> int:
    for name in builtin_suite_names():
        suite = load_suite(name)
        print(f"{name}\t{len(suite.prompts())} prompts\t{suite.description}")
    return 0


def _suites_show(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite)
    if args.json:
        document = {
            "name": suite.name,
            "description": suite.description,
            "suite_hash": suite.content_hash(),
            "system_prompt": suite.system_prompt,
            "defaults": suite.defaults.model_dump(),
            "prompts": [prompt.model_dump() for prompt in suite.prompts()],
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    print(f"suite:         {suite.name}\ndescription:   {suite.description}")
    print(f"system prompt: {suite.system_prompt}\ndefaults:      {suite.defaults.model_dump()}")
    for prompt in suite.prompts():
        print(f"  {prompt.case_id:<16} {prompt.variant:<10} {prompt.prompt}")
    return 0


def _suites_validate(args: argparse.Namespace) -> int:
    if not Path(args.file).is_file():
        raise UserInputError("no such file", source=args.file)
    suite = load_suite(args.file)
    print(
        f"{args.file}: valid suite {suite.name!r}: {len(suite.cases)} cases, {len(suite.prompts())} prompts"
    )
    return 0


def _suites_import_bold(args: argparse.Namespace) -> int:
    from bias_audit.suites.bold import import_bold, to_yaml

    if args.max_per_group <= 0:
        raise UserInputError(f"must be > 0 (value: {args.max_per_group})", field="--max-per-group")
    suite = import_bold(args.file, args.domain, max_per_group=args.max_per_group, seed=args.seed)
    return _emit_suite(suite, to_yaml(suite, args.file), args.out)


def _suites_import_winobias(args: argparse.Namespace) -> int:
    from bias_audit.suites.winobias import import_winobias, to_yaml

    suite = import_winobias(args.directory, tuple(dict.fromkeys(args.split or ["test"])))
    return _emit_suite(suite, to_yaml(suite), args.out)


def _emit_suite(suite, text: str, out: Path | None) -> int:
    """An imported suite's YAML, into ``out`` (saying so) or to stdout."""
    if out:
        out.write_text(text, encoding="utf-8")
        print(f"{out}: suite {suite.name!r}, {len(suite.cases)} cases")
    else:
        print(text, end="")
    return 0


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
    from bias_audit.plan import FAIR_RUNS, plan_run
    from bias_audit.suites import load_suite

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
        fair_runs=args.fair_runs or FAIR_RUNS,
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
        for name, before, after in result.differences:
            print(f"  differs: {name}: {before!r} -> {after!r}")
        print(f"comparison: {data}\npage: {page}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from bias_audit.calibrate import (
        COMPARE_HEADER,
        HEADER,
        SAMPLE_SIZE_HEADER,
        SEQUENTIAL_HEADER,
        calibrate,
        calibrate_compare,
        calibrate_sequential,
        format_variation,
        layout,
        samples_needed,
        suite_schedule,
    )
    from bias_audit.metric_registry import calibrated
    from bias_audit.schedule import parse_schedule
    from bias_audit.scoring.tasks import Scoring
    from bias_audit.stats.sequential import Design

    for flag, value in (
        ("--samples", args.samples),
        ("--runs", args.runs),
        ("--max-samples", args.max_samples),
    ):
        if value is not None and value < 1:
            raise UserInputError(f"must be >= 1 (value: {value})", field=flag)
    for flag, value in (("--max-samples", args.max_samples), ("--looks", args.looks)):
        if value is not None and not args.sequential:
            raise UserInputError("applies to --sequential only", field=flag)
    looks = None
    if args.looks is not None:
        try:
            looks = parse_schedule(args.looks)
        except ValueError as exc:
            raise UserInputError(str(exc), field="--looks") from None
    if sum((args.sequential, args.compare, args.samples_needed)) > 1:
        raise UserInputError(
            "calibrates one thing at a time: give one of --sequential, --compare, --samples-needed",
            field="--sequential",
        )
    thresholds = Thresholds.from_overrides(json_or_file(args.thresholds, "--thresholds"))
    variation, run_suite = _variation_of_run(args) if args.from_run else (None, None)
    suite = load_suite(args.suite or run_suite or "seed-lab")
    groups = sorted({v for variants in layout(suite).values() for v in variants})
    if args.group is not None and args.group not in groups:
        raise UserInputError(
            f"not a group of suite {suite.name!r}: {', '.join(groups)} (value: {args.group!r})",
            field="--group",
        )
    task = Scoring.of(suite.task).task
    for metric in args.metric or ():
        if metric not in calibrated(task):
            raise UserInputError(
                f"not measured on suite {suite.name!r}; its metrics: {', '.join(calibrated(task))} "
                f"(value: {metric!r})",
                field="--metric",
            )
    if args.sequential:
        design = Design(args.max_samples or DEFAULT_MAX_SAMPLES, schedule=looks or suite_schedule(suite))
        how = f"sequential, {design.describe()}"
        header, size = SEQUENTIAL_HEADER, design.max_samples

        def run(suite, size, **options):
            return calibrate_sequential(suite, size, looks=looks, **options)
    elif args.samples_needed:
        how = "the fewest samples per prompt for 90 % power"
        header, size = SAMPLE_SIZE_HEADER, None

        def run(suite, _size, **options):
            return samples_needed(suite, **options)
    else:
        how = f"{args.samples} samples per prompt"
        header = COMPARE_HEADER if args.compare else HEADER
        run, size = (calibrate_compare if args.compare else calibrate), args.samples
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


def _analyze(args: argparse.Namespace) -> int:
    from bias_audit.analyze.job import analyze

    result = analyze(check_run_id(args.run_id), args.out or runs_dir(), args.warehouse or warehouse_dir())
    print(json.dumps(result.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
