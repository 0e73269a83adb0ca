"""``bias-audit judge-check``: how often the judge is wrong, measured, with intervals.

On the labelled set (labelled.jsonl, 200 answers with their rubric grade; how they were labelled:
scripts/build_judge_labels.py and docs/judge.md) the judge grades every answer three times over:

- as it is: agreement with the labels, Cohen's kappa (unweighted, and quadratic-weighted for an
  ordinal scale) with its 95 % interval (statsmodels), Krippendorff's alpha (ordinal; computed
  here, see ``ordinal_alpha``) with a 95 % bootstrap interval over answers, the confusion matrix, and
  the share of replies that could not be read (Wilson interval);
- again (a second request for the same answer): the share graded the same both times;
- with its gendered words swapped (she <-> he, women <-> men, judge/rubric.py ``swap_gender``): the
  share graded the same, and the mean of (grade of the female version - grade of the male version)
  with a t interval: a fair judge's is 0; a positive one grades women's answers as more stereotyped.

The result is written to ``<runs>/judge-checks/<rubric>__<provider>__<model>.json``, which the
reports of runs graded by that judge show beside its findings. Grades come through the judge
cache: a second check of the same judge costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bias_audit.errors import UserInputError
from bias_audit.judge.grading import JUDGE_KEYS, Grader, GradeRecord, Item, JudgeLimits, judge_identity
from bias_audit.judge.rubric import LEVELS, swap_gender
from bias_audit.llm.base import Provider
from bias_audit.records import utc_now
from bias_audit.run_folder import judge_checks
from bias_audit.stats.statistics import t_interval, wilson_interval

log = logging.getLogger(__name__)

LABELLED = Path(__file__).with_name("labelled.jsonl")
# Checks the project measured and ships, for judges whose check takes long to run (the local
# model: about 45 minutes on 2 cores); used while the labelled set is unchanged.
MEASURED = Path(__file__).with_name("measured")
UNPARSEABLE = "unparseable"  # the confusion matrix's column of replies without a grade
BOOTSTRAP = 1000


def labelled_set(path: Path = LABELLED) -> list[dict]:
    """The labelled answers; a bad line is an error naming the file, line and field."""
    rows = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserInputError(f"line {number} is not JSON ({exc.msg})", source=str(path)) from None
        for field, kind in (("id", str), ("prompt", str), ("answer", str), ("label", int)):
            if not isinstance(row.get(field), kind) or isinstance(row.get(field), bool):
                raise UserInputError(
                    f"line {number}: {field} must be a {kind.__name__} (value: {row.get(field)!r})",
                    source=str(path),
                )
        if row["label"] not in LEVELS:
            raise UserInputError(
                f"line {number}: label must be 0-3 (value: {row['label']})", source=str(path)
            )
        if row["id"] in seen:
            raise UserInputError(f"line {number}: id {row['id']!r} appears twice", source=str(path))
        seen.add(row["id"])
        rows.append(row)
    if not rows:
        raise UserInputError("holds no labelled answers", source=str(path))
    return rows


def check_path(runs: Path, identity: Mapping[str, object]) -> Path:
    """Where the check of the judge ``identity`` (``judge_identity``, a run's ``judge_grading``) is kept."""
    name = "__".join(str(identity[k]) for k in JUDGE_KEYS)
    return judge_checks(runs) / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".json")


def read_check(runs: Path, identity: Mapping[str, object]) -> dict | None:
    """The check of the judge ``identity``, if there is one."""
    path = check_path(runs, identity)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def ensure_check(
    provider: Provider, runs: Path, limits: JudgeLimits | None = None, labelled: Path = LABELLED
) -> Path:
    """The judge's check, run once per judge and labelled set (the file is reused while the
    labelled set is unchanged)."""
    path = check_path(runs, judge_identity(provider))
    digest = _digest(labelled)
    if _made_on(path, digest):
        return path
    shipped = MEASURED / path.name  # the local model's check, measured by the project (docs/judge.md)
    if _made_on(shipped, digest):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
        log.info("judge-check: %s from the project's measurement (%s)", path.name, shipped)
        return path
    return run_check(provider, runs, limits, labelled)


def _made_on(path: Path, digest: str) -> bool:
    """Whether ``path`` holds a check made on the labelled set whose sha256 is ``digest``."""
    return path.is_file() and json.loads(path.read_text(encoding="utf-8")).get("labelled_sha256") == digest


def run_check(
    provider: Provider, runs: Path, limits: JudgeLimits | None = None, labelled: Path = LABELLED
) -> Path:
    items = labelled_set(labelled)
    grader = Grader(provider, runs, limits)
    log.info(
        "judge-check: %s %s on %d labelled answers (x3: as is, again, swapped)",
        provider.name,
        provider.model,
        len(items),
    )
    first = grader.grade(Item(i["id"], i["prompt"], i["answer"]) for i in items)
    again = grader.grade(Item(i["id"], i["prompt"], i["answer"], replicate=1) for i in items)
    swapped = grader.grade(Item(i["id"], swap_gender(i["prompt"]), swap_gender(i["answer"])) for i in items)
    identity = judge_identity(provider)
    result = {
        "judge": identity,
        "labelled_set": "built-in" if labelled == LABELLED else str(labelled),
        "labelled_sha256": _digest(labelled),
        "checked_at": utc_now().isoformat(),
        "requests_sent": grader.sent,
        **agreement(items, first, again, swapped),
    }
    path = check_path(runs, identity)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    log.info("judge-check: %s", summary_line(result))
    return path


def agreement(
    items: Sequence[Mapping],
    first: Sequence[GradeRecord],
    again: Sequence[GradeRecord],
    swapped: Sequence[GradeRecord],
    *,
    seed: int = 0,
) -> dict[str, object]:
    """The check's figures from the labels and the three passes' grades (in the items' order)."""
    labels = np.array([int(i["label"]) for i in items])
    grades = [g.grade for g in first]
    parsed = np.array([g is not None for g in grades])
    n, n_parsed = len(items), int(parsed.sum())
    confusion = {
        str(label): {
            **{
                str(g): int(
                    sum(1 for lab, gr in zip(labels, grades, strict=True) if lab == label and gr == g)
                )
                for g in LEVELS
            },
            UNPARSEABLE: int(
                sum(1 for lab, gr in zip(labels, grades, strict=True) if lab == label and gr is None)
            ),
        }
        for label in LEVELS
    }
    figures: dict[str, object] = {
        "answers": n,
        "parsed": n_parsed,
        "unparseable": _rate(n - n_parsed, n),
        "statuses": _count(g.status for g in first),
        "confusion": confusion,
        "exact_agreement": _rate(int(sum(1 for lab, gr in zip(labels, grades, strict=True) if gr == lab)), n),
    }
    figures.update(_kappas(labels[parsed], np.array([g for g in grades if g is not None])))
    figures["krippendorff_alpha"] = _alpha(labels, grades, seed)
    figures["repeat"] = _same(first, again)
    figures["swap"] = {**_same(first, swapped), "female_minus_male": _swap_direction(items, first, swapped)}
    return figures


def _kappas(labels: np.ndarray, grades: np.ndarray) -> dict[str, object]:
    from statsmodels.stats.inter_rater import cohens_kappa

    if len(labels) < 2:
        return {"cohen_kappa": None, "weighted_kappa": None}
    table = np.zeros((len(LEVELS), len(LEVELS)))
    for label, grade in zip(labels, grades, strict=True):
        table[label, grade] += 1
    out: dict[str, object] = {}
    for name, weights in (("cohen_kappa", None), ("weighted_kappa", "quadratic")):
        result = cohens_kappa(table, wt=weights)
        kappa = float(result.kappa)
        out[name] = (
            None
            if np.isnan(kappa)
            else {
                "value": kappa,
                "ci_low": float(result.kappa_low),
                "ci_high": float(result.kappa_upp),
                "n": len(labels),
            }
        )
    return out


def ordinal_alpha(first: Sequence[int | None], second: Sequence[int | None], levels: Sequence[int]) -> float:
    """Krippendorff's alpha, ordinal metric, of two coders' values (None: missing), from the
    coincidence matrix (Krippendorff 2011, "Computing Krippendorff's alpha-reliability").

    Written here because the maintained implementation on PyPI (``krippendorff``) is GPL-3.0,
    which this Apache-2.0 project does not take on; tests/test_judge.py checks this one against
    values that package computes."""
    index = {level: i for i, level in enumerate(levels)}
    coincidences = np.zeros((len(levels), len(levels)))
    for a, b in zip(first, second, strict=True):
        if a is not None and b is not None:  # a unit with one value has no pair
            coincidences[index[a], index[b]] += 1
            coincidences[index[b], index[a]] += 1
    totals = coincidences.sum(axis=1)
    n = totals.sum()
    cumulative = np.cumsum(totals)
    delta = np.zeros_like(coincidences)
    for c in range(len(levels)):
        for k in range(len(levels)):
            low, high = min(c, k), max(c, k)
            between = cumulative[high] - (cumulative[low - 1] if low > 0 else 0.0)
            delta[c, k] = (between - (totals[c] + totals[k]) / 2) ** 2
    observed = float((coincidences * delta).sum() / n)
    expected = float((np.outer(totals, totals) * delta).sum() / (n * (n - 1)))
    return 1.0 - observed / expected


def _alpha(labels: np.ndarray, grades: Sequence[int | None], seed: int) -> dict[str, object] | None:
    pairs = [(int(label), grade) for label, grade in zip(labels, grades, strict=True) if grade is not None]
    if len(pairs) < 2 or len({v for pair in pairs for v in pair}) < 2:
        return None
    first, second = [a for a, _ in pairs], [b for _, b in pairs]
    value = ordinal_alpha(first, second, list(LEVELS))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, len(pairs), len(pairs))
        if len({first[i] for i in pick} | {second[i] for i in pick}) > 1:
            draws.append(ordinal_alpha([first[i] for i in pick], [second[i] for i in pick], list(LEVELS)))
    low, high = np.quantile(draws, [0.025, 0.975])
    return {"value": value, "ci_low": float(low), "ci_high": float(high), "n": len(pairs)}


def _same(first: Sequence[GradeRecord], second: Sequence[GradeRecord]) -> dict[str, object]:
    """The share of answers graded the same both times, among those graded (parsed) both times."""
    both = [
        (a.grade, b.grade)
        for a, b in zip(first, second, strict=True)
        if a.grade is not None and b.grade is not None
    ]
    return _rate(sum(1 for a, b in both if a == b), len(both))


def _swap_direction(
    items: Sequence[Mapping], first: Sequence[GradeRecord], swapped: Sequence[GradeRecord]
) -> dict | None:
    """Mean over answers about a woman or a man of (grade of the female version - grade of the male
    version), with a 95 % t interval."""
    differences = []
    for item, a, b in zip(items, first, swapped, strict=True):
        if a.grade is None or b.grade is None or item.get("variant") not in ("female", "male"):
            continue
        differences.append(a.grade - b.grade if item["variant"] == "female" else b.grade - a.grade)
    if len(differences) < 2:
        return None
    mean, low, high = t_interval(differences)
    return {"value": mean, "ci_low": low, "ci_high": high, "n": len(differences)}


def _rate(count: int, n: int) -> dict[str, object]:
    if n == 0:
        return {"value": None, "ci_low": None, "ci_high": None, "count": 0, "n": 0}
    low, high = wilson_interval(count, n)
    return {"value": count / n, "ci_low": low, "ci_high": high, "count": int(count), "n": int(n)}


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _interval(figure: Mapping | None, percent: bool = False) -> str:
    if not figure or figure.get("value") is None:
        return "n/a"
    scale, fmt = (100, "{:.0f}") if percent else (1, "{:.2f}")
    unit = " %" if percent else ""
    return (
        f"{fmt.format(figure['value'] * scale)}{unit} "
        f"[{fmt.format(figure['ci_low'] * scale)}, {fmt.format(figure['ci_high'] * scale)}] (n={figure['n']})"
    )


def summary_line(check: Mapping) -> str:
    return "; ".join(f"{name} {value}" for name, value in check_rows(check))


def check_rows(check: Mapping) -> list[tuple[str, str]]:
    """The check's figures, each as (name, "value [95 % CI] (n)"): the CLI's table and the report's."""
    swap = check.get("swap") or {}
    rows = (
        ("Cohen's kappa", check.get("cohen_kappa"), False),
        ("weighted kappa (quadratic)", check.get("weighted_kappa"), False),
        ("Krippendorff's alpha (ordinal)", check.get("krippendorff_alpha"), False),
        ("exact agreement", check.get("exact_agreement"), True),
        ("unparseable replies", check.get("unparseable"), True),
        ("same grade asked again", check.get("repeat"), True),
        ("same grade, gender swapped", swap, True),
        ("female - male (swap)", swap.get("female_minus_male"), False),
    )
    return [(name, _interval(figure, percent)) for name, figure, percent in rows]


def check_table(check: Mapping) -> str:
    """The check as text (the CLI prints it)."""
    judge = check["judge"]
    lines = [
        f"judge {judge['judge_provider']} {judge['judge_model']}, rubric {judge['rubric_version']}, "
        f"{check['answers']} labelled answers ({check['labelled_set']})",
        "figure                         value [95 % CI] (n)",
    ]
    lines += [f"{name:<30} {value}" for name, value in check_rows(check)]
    lines.append("confusion (rows: label, columns: the judge's grade)")
    columns = [*map(str, LEVELS), UNPARSEABLE]
    lines.append("label  " + "  ".join(f"{c:>11}" for c in columns))
    for label, row in check["confusion"].items():
        lines.append(f"{label:<6} " + "  ".join(f"{row[c]:>11}" for c in columns))
    return "\n".join(lines)
