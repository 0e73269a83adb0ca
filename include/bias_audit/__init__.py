"""bias-audit: audit LLM deployments for gender and other demographic bias."""

__version__ = "0.1.0"
