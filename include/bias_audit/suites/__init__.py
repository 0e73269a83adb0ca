"""Prompt suites: counterfactual cases, each a set of variants of one prompt."""

from bias_audit.suites.loader import builtin_suite_names, load_suite
from bias_audit.suites.model import Case, GenerationDefaults, Prompt, Suite

__all__ = ["Case", "GenerationDefaults", "Prompt", "Suite", "builtin_suite_names", "load_suite"]
