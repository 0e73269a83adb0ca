"""How much real answers vary: method-of-moments variance components (case, prompt, answer) of one
run's answers, the sizes ``bias-audit calibrate --from-run RUN`` calibrates with.
"""

from __future__ import annotations

import numpy as np

from bias_audit.calibrate.synthetic import _EDGE, _sd
from bias_audit.metric_registry import CALIBRATED, CONTINUOUS, METRICS, RATES, Variation
from bias_audit.stats.within_case import (
    pooled_within_variance,
)


def estimate_variation(values: list[dict], metrics: tuple[str, ...] = CALIBRATED) -> dict[str, Variation]:
    """Variance components of one run's answers (``metrics.answer_values`` rows), per metric, by the
    method of moments for a nested design (Searle, Casella & McCulloch 1992, *Variance Components*,
    §3.6; written here because statsmodels' MixedLM fits these models by REML with convergence
    failures on the few cases of small suites, where the moment estimators are closed-form):

        (1) answer variance   s^2  = within-prompt variance pooled over prompts
        (2) prompt variance   t_p^2 = mean over cases of var(prompt means of the case) - s^2 mean(1/n)
        (3) case variance     t_c^2 = var(case means) - mean over cases of (t_p^2 + s^2 mean(1/n)) / V_c
    each truncated at 0 (V_c: the case's variants). A real gender effect counts as prompt variation
    in (2), which makes the calibration conservative. Rates and the skew are converted to logits by
    the delta method (sd / (p (1 - p)); the skew's leaning moves p(male) - p(female) by 2 p (1 - p)
    per logit); the skew's case and prompt effects cannot be told apart (one neutral prompt per
    case) and are reported together as ``case_sd``."""
    result = {}
    for metric in metrics:
        prompts: dict[tuple[str, str], list[float]] = {}
        for value in values:
            if value.get(metric) is None or (
                METRICS[metric].kind == "skew" and value["variant"] != METRICS[metric].of_group
            ):
                continue
            prompts.setdefault((value["case_id"], value["variant"]), []).append(float(value[metric]))
        if not prompts:
            continue
        result[metric] = _components(metric, prompts)
    return result


def _components(metric: str, prompts: dict[tuple[str, str], list[float]]) -> Variation:
    arrays = {key: np.asarray(x) for key, x in prompts.items()}
    everything = np.concatenate(list(arrays.values()))
    answer_var = pooled_within_variance(
        sum(((x - x.mean()) ** 2).sum() for x in arrays.values()), sum(len(x) - 1 for x in arrays.values())
    )
    answer_var = answer_var or 0.0  # (1)
    by_case: dict[str, list[np.ndarray]] = {}
    for (case, _), x in arrays.items():
        by_case.setdefault(case, []).append(x)
    noise = [answer_var * np.mean([1 / len(x) for x in xs]) for xs in by_case.values()]
    multi = [(xs, n) for xs, n in zip(by_case.values(), noise, strict=True) if len(xs) > 1]
    prompt_var = 0.0
    if multi:  # (2)
        prompt_var = max(0.0, float(np.mean([np.var([x.mean() for x in xs], ddof=1) - n for xs, n in multi])))
    case_means = [np.mean([x.mean() for x in xs]) for xs in by_case.values()]
    case_var = 0.0
    if len(case_means) > 1:  # (3)
        expected = np.mean(
            [(prompt_var + n) / len(xs) for xs, n in zip(by_case.values(), noise, strict=True)]
        )
        case_var = max(0.0, float(np.var(case_means, ddof=1) - expected))
    if metric in CONTINUOUS:
        return Variation(float(everything.mean()), float(np.sqrt(answer_var)), _sd(case_var), _sd(prompt_var))
    if metric in RATES:
        p = float(np.clip(everything.mean(), _EDGE, 1 - _EDGE))
        slope = p * (1 - p)
        return Variation(p, 0.0, _sd(case_var) / slope, _sd(prompt_var) / slope)
    share = float(np.clip((np.mean(everything == 1) + np.mean(everything == -1)) / 2, _EDGE, 0.5 - _EDGE))
    slope = 2 * share * (1 - share)
    return Variation(share, 0.0, _sd(case_var + prompt_var) / slope, 0.0)


def format_variation(variation: dict[str, Variation]) -> str:
    lines = [
        f"{'metric':<15}{'centre':>9}{'answer sd':>11}{'case sd':>9}{'prompt sd':>11}  (rates, skew: logits)"
    ]
    for metric, v in variation.items():
        lines.append(f"{metric:<15}{v.centre:>9.3g}{v.answer_sd:>11.3g}{v.case_sd:>9.3g}{v.prompt_sd:>11.3g}")
    return "\n".join(lines)
