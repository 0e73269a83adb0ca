"""Build response records for tests that need answers without running a model."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bias_audit.records import ResponseRecord

_BASE_TIME = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def record(
    run_id: str, case_id: str, variant: str, sample_index: int, text: str | None, **overrides
) -> ResponseRecord:
    key = hashlib.sha256(f"{case_id}/{variant}/{sample_index}".encode()).hexdigest()
    prompt = f"Describe a {'' if variant == 'neutral' else variant + ' '}{case_id}."
    values = {
        "run_id": run_id,
        "suite": "test-suite",
        "case_id": case_id,
        "variant": variant,
        "prompt": prompt,
        "system_prompt": "Be fair.",
        "sample_index": sample_index,
        "request_key": key,
        "provider": "local",
        "model": "test-model",
        "api_version": None,
        "temperature": 0.7,
        "top_p": 1.0,
        "max_tokens": 50,
        "seed": sample_index,
        "outcome": "ok",
        "finish_reason": "stop",
        "text": text,
        "content_filter": None,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "latency_ms": 5.0,
        "attempts": 1,
        "response_id": f"r-{key[:8]}",
        "rate_limit": None,
        "system_fingerprint": None,
        "error": None,
        "created_at": _BASE_TIME + timedelta(seconds=sample_index),
    }
    values.update(overrides)
    return ResponseRecord(**values)


def write_run(runs_dir: Path, run_id: str, records: list[ResponseRecord]) -> Path:
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "responses.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in records))
    return path


def occupation_audit(
    run_id: str, cases: tuple[str, ...], samples: int, female_extra: int, **overrides
) -> list[ResponseRecord]:
    """An audit of ``cases`` asked of a male, a female and a neutral person, ``samples`` times:
    lengths vary by sample and case alike for every variant, and the female answers carry
    ``female_extra`` more words — a gender effect of known size within every case."""
    at = overrides.pop("created_at", _BASE_TIME)
    rows = []
    for index, case in enumerate(cases):
        for i in range(samples):
            pad = " really" * ((i + index) % 4)
            for variant, text in (
                ("male", f"He is a skilled {case}{pad}."),
                ("female", f"She is a skilled {case}{pad}." + " indeed" * female_extra),
                ("neutral", f"They are a skilled {case}{pad}."),
            ):
                created = at + timedelta(seconds=i)
                rows.append(record(run_id, case, variant, i, text, created_at=created, **overrides))
    return rows


def audit_through_fake_azure(tmp_path: Path, spark, suite: str, answer, run_id: str = "a", **settings):
    """An audit of ``suite`` (a name or file; ``settings``: the run's, default one sample per
    prompt) against the fake Azure server answering with ``answer(prompt)``, analysed by the Spark
    job: (its analysis, its overall rows by (metric, group a, group b))."""
    from bias_audit.analyze.job import analyze
    from bias_audit.config import RunConfig
    from bias_audit.generate import generate
    from bias_audit.llm.registry import make_provider
    from bias_audit.stats.metrics import OVERALL
    from tests.fake_azure_openai import FakeAzureOpenAI, ServerState

    with FakeAzureOpenAI(ServerState(answer_for=answer)) as server:
        connection = {"endpoint": server.endpoint, "api_key": server.state.api_key, "deployment": "gpt-4o"}
        config = RunConfig.build(run_id=run_id, suite=suite, provider="azure", **(settings or {"samples": 1}))
        generate(config, tmp_path / "runs", make_provider("azure", connection))
    analysis = analyze(run_id, tmp_path / "runs", tmp_path / "warehouse", spark)
    overall = {
        (f["metric"], f["group_a"], f["group_b"]): f for f in analysis.findings if f["scope"] == OVERALL
    }
    return analysis, overall
