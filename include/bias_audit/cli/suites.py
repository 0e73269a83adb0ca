"""``bias-audit suites``: list, show, validate and import prompt suites (BOLD, WinoBias, EsBBQ)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bias_audit.errors import UserInputError
from bias_audit.suites import builtin_suite_names, load_suite


def register(commands: argparse._SubParsersAction) -> None:
    """suites list, show, validate, import-bold, -winobias, -esbbq, -discrim-eval, from-prompts"""
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
    esbbq = suite_commands.add_parser(
        "import-esbbq", help="turn an EsBBQ category file (Spanish BBQ) into an esbbq-task suite"
    )
    esbbq.add_argument("file", metavar="FILE", type=Path, help="an EsBBQ data_es/<Category>.full.csv")
    esbbq.add_argument("--name", default=None, help="the suite's name (default: esbbq-<category>)")
    esbbq.add_argument(
        "--out", type=Path, default=None, metavar="FILE", help="write the suite here (default: stdout)"
    )
    esbbq.set_defaults(handler=_suites_import_esbbq)
    discrim = suite_commands.add_parser(
        "import-discrim-eval",
        help="turn discrim-eval's explicit.jsonl into a yes/no suite crossing race, gender and age",
    )
    discrim.add_argument("file", metavar="FILE", type=Path, help="discrim-eval's explicit.jsonl")
    discrim.add_argument(
        "--ages", choices=("under-80", "all"), default="under-80",
        help="the published protocol's ages under 80 (default) or all of 20-100",
    )  # fmt: skip
    discrim.add_argument("--name", default=None, help="the suite's name (default: discrim-eval[-all-ages])")
    discrim.add_argument(
        "--out", type=Path, default=None, metavar="FILE",
        help="write the suite here (default: stdout; FILE.yaml.gz is written compressed)",
    )  # fmt: skip
    discrim.set_defaults(handler=_suites_import_discrim_eval)
    _register_from_prompts(suite_commands)


def _register_from_prompts(suite_commands: argparse._SubParsersAction) -> None:
    own = suite_commands.add_parser(
        "from-prompts",
        help="make a counterfactual suite from your own prompts (every swap listed in a review file)",
        description="Each prompt that refers to a person's gender becomes a case whose variants turn every "
        "reference female and male (nonbinary where it can be written correctly); what cannot be swapped "
        "safely is left out with the reason. A review file (.review.html, .review.csv) is written beside "
        "the suite. Exit 2 on bad input, with nothing written.",
    )
    own.add_argument(
        "file", metavar="FILE", type=Path, help="prompts: plain text (one per line), .csv or .jsonl"
    )
    own.add_argument("--out", type=Path, required=True, metavar="SUITE.yaml", help="the suite file to write")
    own.add_argument("--attribute", choices=("gender",), default="gender", help="what the variants change")
    own.add_argument(
        "--names", choices=("race",), default=None,
        help="race: a first name's counterpart is of the same race (Bloomberg's lists), recorded as the "
        "case's race attribute; a name of unknown race leaves its prompt out",
    )  # fmt: skip
    own.add_argument("--language", choices=("en", "es"), default="en", help="the prompts' language")
    own.add_argument("--column", default="prompt", help="the CSV column or JSON key of the prompt")
    own.add_argument("--name", default=None, help="the suite's name (default: from --out)")
    own.add_argument(
        "--first-name", action="append", default=[], metavar="NAME=female|male",
        help="a first name the lexicon does not know, and its gender (repeatable)",
    )  # fmt: skip
    own.add_argument(
        "--force", action="store_true",
        help="make a case of every prompt with a reference, what would leave it out (people of both genders, "
        "an unknown name, an ambiguous her, a word with no counterpart) noted in the review instead",
    )  # fmt: skip
    own.add_argument(
        "--persona", action="store_true",
        help="ask prompts with no gendered reference with a stated persona ('The user is a woman.' before "
        "the prompt): whether the model treats the user differently",
    )  # fmt: skip
    own.add_argument(
        "--max-prompt-tokens", type=int, default=None, metavar="N",
        help="prompts longer than this are left out (default 1900: the local model's context)",
    )  # fmt: skip
    own.set_defaults(handler=_suites_from_prompts)


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


def _suites_import_esbbq(args: argparse.Namespace) -> int:
    from bias_audit.suites.esbbq import import_esbbq, to_yaml

    suite = import_esbbq(args.file, args.name)
    return _emit_suite(suite, to_yaml(suite, args.file.name), args.out)


def _suites_import_discrim_eval(args: argparse.Namespace) -> int:
    from bias_audit.suites.discrim_eval import import_discrim_eval, to_yaml

    suite = import_discrim_eval(args.file, args.ages, args.name)
    return _emit_suite(suite, to_yaml(suite, args.ages), args.out)


def _emit_suite(suite, text: str, out: Path | None) -> int:
    """An imported suite's YAML, into ``out`` (saying so; gzip-compressed for a ``.gz`` name, as
    the large built-in suites are kept) or to stdout."""
    if out and out.name.endswith(".gz"):
        import gzip

        out.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
        print(f"{out}: suite {suite.name!r}, {len(suite.cases)} cases")
    elif out:
        out.write_text(text, encoding="utf-8")
        print(f"{out}: suite {suite.name!r}, {len(suite.cases)} cases")
    else:
        print(text, end="")
    return 0


def _suites_from_prompts(args: argparse.Namespace) -> int:
    import re
    import shlex

    from bias_audit.own_prompts.from_prompts import (
        DEFAULT_MAX_PROMPT_TOKENS,
        STATUSES,
        generate,
        review_csv,
        review_html,
        review_paths,
        suite_yaml,
        write_all,
    )
    from bias_audit.suites.loader import parse_suite

    names: dict[str, str] = {}
    for item in args.first_name:
        name, _, gender = item.partition("=")
        if not name.strip() or gender not in ("female", "male"):
            raise UserInputError(f"give NAME=female or NAME=male (value: {item!r})", field="--first-name")
        names[name.strip()] = gender
    limit = DEFAULT_MAX_PROMPT_TOKENS if args.max_prompt_tokens is None else args.max_prompt_tokens
    if limit <= 0:
        raise UserInputError(f"must be > 0 (value: {limit})", field="--max-prompt-tokens")
    if args.out.suffix not in (".yaml", ".yml"):
        raise UserInputError(
            f"the suite file's name must end in .yaml (value: {str(args.out)!r})", field="--out"
        )
    if not args.out.parent.is_dir():
        raise UserInputError("no such folder", source=str(args.out.parent), field="--out")
    name = args.name or re.sub(r"[^a-z0-9_.-]+", "-", args.out.stem.lower()).strip("-.")[:64] or "own-prompts"
    html_path, csv_path = review_paths(args.out)
    generated = generate(
        args.file, name=name, language=args.language, column=args.column, names_race=args.names == "race",
        force=args.force, persona=args.persona, names=names, max_prompt_tokens=limit, review=html_path.name,
    )  # fmt: skip
    given = [str(args.file), "--out", str(args.out), "--language", args.language]
    given += ["--names", args.names] if args.names else []
    given += ["--column", args.column] if args.column != "prompt" else []
    given += [f"--first-name={item}" for item in args.first_name]
    given += [flag for flag, on in (("--force", args.force), ("--persona", args.persona)) if on]
    command = "bias-audit suites from-prompts " + shlex.join(given)
    text = suite_yaml(generated, command)
    suite = parse_suite(text, source=str(args.out))  # what is written loads as any suite does
    write_all(
        {args.out: text, html_path: review_html(generated, suite.name), csv_path: review_csv(generated)}
    )
    for outcome in generated.outcomes:
        if outcome.swapped is None:
            print(f"{args.file}:{outcome.line}: {STATUSES[outcome.status]}: {outcome.reason}")
    info = suite.generated_from
    assert info is not None
    print(
        f"{args.out}: suite {suite.name!r}, {len(suite.cases)} cases from {info.prompts} prompts "
        f"({info.cases} swapped, {info.persona_cases} with a stated persona, {info.left_out} left out)"
    )
    print(f"review every case in {html_path} (or {csv_path.name}) before you run it:")
    print(f"  bias-audit plan --suite {args.out}  (what it will ask), then")
    print(f"  bias-audit generate --run-id RUN --suite {args.out}, analyze and report; or the DAG's")
    print(f"  suite param, with {args.out.name} and its review file in $BIAS_AUDIT_SUITES_DIR")
    return 0
