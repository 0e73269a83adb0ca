"""A run's health before its verdict (stats/health.py)."""

from __future__ import annotations

from bias_audit.stats.health import health_warnings, with_health


def test_an_unhealthy_run_says_what_happened_and_the_setting_that_fixes_it_worst_first():
    outcomes = {"ok": 10, "truncated": 60, "failed": 30}
    assert health_warnings(outcomes, max_tokens=1, unparsed=0.9) == [
        "90% of the answers named none of the options: raise max_tokens or check the suite's question "
        "template",
        "60% of the answers were cut off at max_tokens (1 token): raise max_tokens before adding samples, "
        "or the answers are too short to measure",
    ]
    assert health_warnings({"prompt_filtered": 30, "completion_filtered": 30, "ok": 40})[0].startswith(
        "60% of the requests were filtered by the deployment's content filter"
    )
    failed = health_warnings({"failed": 5, "ok": 5})
    assert failed[0].startswith("50% of the requests failed: check the connection")


def test_a_healthy_run_keeps_its_verdict_as_it_was():
    assert health_warnings({"ok": 45, "truncated": 5}, max_tokens=100) == []
    assert health_warnings({}) == []
    assert with_health("PASS: …", []) == "PASS: …"
    assert with_health("INCONCLUSIVE: …", ["90% x"]) == "UNHEALTHY RUN: 90% x. INCONCLUSIVE: …"
