"""How far the verdict can be trusted: false alarms and detection power on synthetic runs that have
the structure of real ones.

A synthetic run has the layout of a real one (the suite's cases and variants, ``samples`` answers
per prompt). Each metric's answers vary as real answers do (``Variation``): every case shifts all
its prompts (a doctor's description is longer than a chef's), every prompt's wording shifts its
own answers, and every answer has its own noise.

    continuous:   y = centre + u_case + w_prompt + gap [group is the target] + e,
                  u ~ N(0, case_sd^2), w ~ N(0, prompt_sd^2), e ~ N(0, answer_sd^2)
    rates (0/1):  P(1) = expit(logit(centre) + u_case + w_prompt) + gap [target]  (u, w in logits)
    gender_skew:  neutral answers assume male with expit(logit(centre) + z_case + gap') and female
                  with expit(logit(centre) - z_case): cases lean either way (a nurse, an engineer);
                  the injected gap moves the male share so that the skew rises by ``gap``.

The sizes come from real runs (``estimate_variation``: method-of-moments variance components of
the answers of one run, ``bias-audit calibrate --from-run RUN``); the defaults are each metric's
``calibration`` in the metric registry (see ``DEFAULT_VARIATION``).

For each metric:
- *false-alarm rate*: the share of unbiased runs (no gender effect at all, but case and prompt
  effects) in which an overall comparison of the metric says warn or fail;
- *power*: the share of runs with a gap of the metric's *fail threshold* injected into the target
  group's answers (``female``, else the first named group; for ``gender_skew``, into the neutral
  answers' skew) in which it says warn or fail;
- *detectable gap*: the smallest injected gap (a multiple of the fail threshold, from
  ``MULTIPLES``) found with at least ``TARGET_POWER`` power. None when even the largest is missed.

The analysis is the Spark job's own: the overall comparisons are pooled over cases by
``within_case.pool`` and judged by ``verdict.apply_thresholds``; only the answers are made up. The answers are
drawn as per-prompt summaries (counts, means, sums of squares) so that a thousand runs of a
720-prompt suite take seconds; ``simulate`` gives the same draws as per-answer values.

The package: synthetic.py (the draws and their rows), variation.py (variance components of a real
run), fixed.py (the fixed design and samples per prompt), sequential.py (sequential audits),
compare.py (``bias-audit compare``).
"""

from bias_audit.calibrate.compare import COMPARE_HEADER, CompareCalibration, calibrate_compare, change_rows
from bias_audit.calibrate.fixed import (
    HEADER,
    SAMPLE_GRID,
    SAMPLE_SIZE_HEADER,
    Calibration,
    SampleSize,
    calibrate,
    format_row,
    format_sample_size,
    samples_needed,
)
from bias_audit.calibrate.sequential import (
    SEQUENTIAL_HEADER,
    SequentialCalibration,
    SequentialRun,
    calibrate_sequential,
    format_sequential_row,
    run_sequentially,
    sequence_coverage,
)
from bias_audit.calibrate.synthetic import (
    DEFAULT_VARIATION,
    MULTIPLES,
    TARGET_POWER,
    SyntheticRun,
    answers_per_sample,
    biased_group,
    case_rows,
    draw,
    layout,
    max_gap,
    overall_rows,
    simulate,
    taken,
    verdict_rows,
)
from bias_audit.calibrate.variation import estimate_variation, format_variation
from bias_audit.metric_registry import Variation

__all__ = [
    "COMPARE_HEADER",
    "DEFAULT_VARIATION",
    "HEADER",
    "MULTIPLES",
    "SAMPLE_GRID",
    "SAMPLE_SIZE_HEADER",
    "SEQUENTIAL_HEADER",
    "TARGET_POWER",
    "Calibration",
    "CompareCalibration",
    "SampleSize",
    "SequentialCalibration",
    "SequentialRun",
    "SyntheticRun",
    "Variation",
    "answers_per_sample",
    "biased_group",
    "calibrate",
    "calibrate_compare",
    "calibrate_sequential",
    "case_rows",
    "change_rows",
    "draw",
    "estimate_variation",
    "format_row",
    "format_sample_size",
    "format_sequential_row",
    "format_variation",
    "layout",
    "max_gap",
    "overall_rows",
    "run_sequentially",
    "samples_needed",
    "sequence_coverage",
    "simulate",
    "taken",
    "verdict_rows",
]
