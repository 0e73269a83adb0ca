"""Is the run healthy enough for its verdict to mean anything? An owner reads this first: when most
answers were cut off, unreadable, filtered or failed, the fix is a setting, not more samples.

The shares are of all answers of the run; a problem is flagged from ``UNHEALTHY`` (half) on, each
with the setting that fixes it. Pure Python: the analysis passes the counts it has.
"""

from __future__ import annotations

from collections.abc import Mapping

UNHEALTHY = 0.5  # the share of answers from which a run is flagged


def health_warnings(
    outcomes: Mapping[str, int], *, max_tokens: int | None = None, unparsed: float | None = None
) -> list[str]:
    """One sentence per problem, worst first: what happened to how many answers, and what to do.
    ``unparsed``: a task suite's share of answers with text that named no option."""
    total = sum(outcomes.values())
    if not total:
        return []
    found: list[tuple[float, str]] = []

    def share(*names: str) -> float:
        return sum(outcomes.get(n, 0) for n in names) / total

    cut = share("truncated")
    if cut >= UNHEALTHY:
        limit = f" ({max_tokens} token{'' if max_tokens == 1 else 's'})" if max_tokens else ""
        found.append(
            (cut, f"{cut:.0%} of the answers were cut off at max_tokens{limit}: raise max_tokens before "
             "adding samples, or the answers are too short to measure")
        )  # fmt: skip
    filtered = share("prompt_filtered", "completion_filtered")
    if filtered >= UNHEALTHY:
        found.append(
            (filtered, f"{filtered:.0%} of the requests were filtered by the deployment's content filter: "
             "the gaps compare filter decisions, not answers (see the not_ok findings)")
        )  # fmt: skip
    failed = share("failed")
    if failed >= UNHEALTHY:
        found.append(
            (failed, f"{failed:.0%} of the requests failed: check the connection, deployment name and "
             "quota in the generate task's log, then run the audit again (answers already recorded "
             "are kept)")
        )  # fmt: skip
    if unparsed is not None and unparsed >= UNHEALTHY:
        found.append(
            (unparsed, f"{unparsed:.0%} of the answers named none of the options: raise max_tokens or "
             "check the suite's question template")
        )  # fmt: skip
    return [text for _, text in sorted(found, key=lambda f: -f[0])]


def with_health(summary: str, warnings: list[str]) -> str:
    """The verdict in words, opened by the run's health problems when it has any."""
    if not warnings:
        return summary
    return "UNHEALTHY RUN: " + "; ".join(warnings) + ". " + summary
