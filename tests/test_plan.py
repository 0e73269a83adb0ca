"""``bias-audit plan``: what an audit will ask before it asks anything (plan.py)."""

from __future__ import annotations

import json
import logging

import pytest

from bias_audit.cli import main
from bias_audit.config import RunConfig
from bias_audit.generate import generate
from bias_audit.run_folder import RunFolder
from tests.fake_azure_openai import FakeAzureOpenAI, ServerState
from tests.test_sequential import SIX_OCCUPATIONS, azure, worded


def test_plan_prints_both_designs_with_time_at_the_quota_and_cost(capsys):
    argv = ["plan", "--suite", "seed-lab", "--tpm", "10000", "--rpm", "60", "--quota-share", "0.5"]
    assert main([*argv, "--price-input", "2.5", "--price-output", "10", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["prompts"] == 10 and plan["max_tokens"] == 100
    fixed, sequential = plan["designs"]
    assert fixed["mode"] == "fixed" and fixed["requests"] == {"least": 50, "typical": 50, "most": 50}
    per_request = plan["prompt_tokens"] + 100
    assert fixed["tokens"]["most"] == pytest.approx(50 * per_request)
    # 50 requests at 30 a minute (half of 60 RPM), unless the tokens take longer at 5,000 TPM
    assert fixed["minutes"]["most"] == pytest.approx(max(50 / 30, 50 * per_request / 5000))
    cost = 50 * (plan["prompt_tokens"] * 2.5 + 100 * 10) / 1e6
    assert fixed["cost"]["most"] == pytest.approx(cost)
    assert sequential["mode"] == "sequential" and sequential["sampling"].startswith("looks at 5, 15, 30, 50")
    least, typical, most = (sequential["requests"][k] for k in ("least", "typical", "most"))
    assert least == 50 and most == 500 and least <= typical <= most
    assert fixed["fair_runs"] == 0 and sequential["fair_runs"] >= 5
    assert main(["plan", "--suite", "seed-lab", "--sequential", "--max-samples", "10"]) == 0
    out = capsys.readouterr().out
    assert "sequential (looks at 5, 10 samples per prompt)" in out and "fixed" not in out
    assert "requests  50 to 100, typically" in out and "time" not in out  # no quota given
    assert "(a fair model: the mean of " in out and " synthetic audits)" in out


def test_the_typical_figure_takes_fair_audits_until_their_mean_is_known_within_five_percent():
    """At least 5 seeded synthetic fair audits, then more until the standard error of their mean is
    within 5 % of it: the same plan every time, and a mean that is what it says it is."""
    import numpy as np

    from bias_audit.calibrate import layout, run_sequentially
    from bias_audit.plan import FAIR_RUNS, MOST_FAIR_RUNS, fair_spend
    from bias_audit.stats.design import Design
    from bias_audit.suites import load_suite
    from bias_audit.thresholds import Thresholds

    suite, design = load_suite("seed-lab"), Design(50)
    typical, runs = fair_spend(suite, design, Thresholds())
    assert (typical, runs) == fair_spend(suite, design, Thresholds())
    assert FAIR_RUNS < runs <= MOST_FAIR_RUNS  # seed-lab's fair runs vary: 5 are not enough
    rng = np.random.default_rng([len(suite.cases), 50, 17])  # the plan's seed
    spent = [run_sequentially(layout(suite), design, rng, {}, Thresholds()).requests for _ in range(runs)]
    assert typical == pytest.approx(np.mean(spent))

    def error(values):
        return np.std(values, ddof=1) / np.sqrt(len(values)) / np.mean(values)

    assert error(spent) <= 0.05 < error(spent[:-1])
    assert fair_spend(suite, design, Thresholds(), runs=3) == (pytest.approx(np.mean(spent[:3])), 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--price-input", "-1"], "--price-input: must be a price >= 0 per 1M tokens (value: -1.0)"),
        (["--sequential", "--looks", "3, 1"], "looks: looks must increase"),
        (["--samples", "0"], "samples: Input should be greater than 0"),
        (["--suite", "no-such-suite"], "no-such-suite"),
    ],
)
def test_plan_rejects_bad_input_naming_it(capsys, args, message):
    assert main(["plan", *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.heavy
def test_a_runs_requests_and_tokens_fall_within_its_plan_and_the_plan_is_kept(tmp_path, caplog):
    config = RunConfig.build(
        run_id="p", suite=SIX_OCCUPATIONS, provider="azure", mode="sequential", max_samples=20,
        budget_requests=300, tpm=100_000, rpm=1_000,
    )  # fmt: skip
    with caplog.at_level(logging.INFO), FakeAzureOpenAI(ServerState(answer_for=worded)) as server:
        result = generate(config, tmp_path, azure(server))
    manifest = RunFolder.of(tmp_path, "p").read_manifest()
    (design,) = manifest["plan"]["designs"]
    assert design["requests"]["least"] <= result.sent <= design["requests"]["most"] == 18 * 20
    assert manifest["sequential"]["tokens_spent"] <= design["tokens"]["most"]
    said = caplog.text
    assert "plan for suite" in said and "at the quota" in said
    assert "at most 360 requests may be needed, more than budget_requests (300)" in said


def test_a_listed_models_prices_cost_the_plan_as_the_same_prices_given_by_hand(capsys):
    from bias_audit.plan import PRICES

    def cost(*flags: str) -> dict:
        assert main(["plan", "--suite", "seed-lab", "--mode", "fixed", "--json", *flags]) == 0
        return json.loads(capsys.readouterr().out)

    listed = cost("--price-model", "gpt-4o-mini")
    by_hand = cost(
        "--price-input", str(PRICES["gpt-4o-mini"][0]), "--price-output", str(PRICES["gpt-4o-mini"][1])
    )
    assert listed["designs"] == by_hand["designs"] and listed["designs"][0]["cost"]
    assert "gpt-4o-mini's list price, read " in listed["prices"]
    assert main(["plan", "--suite", "seed-lab", "--price-model", "no-such-model"]) == 2
    assert "--price-model: no listed price for 'no-such-model'" in capsys.readouterr().err


def test_the_documented_price_table_is_the_one_plan_uses():
    from pathlib import Path

    from bias_audit.plan import PRICES, PRICES_READ

    docs = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert f"read {PRICES_READ}" in docs
    for model, (price_in, price_out) in PRICES.items():
        assert f"| `{model}` | {price_in:.2f} | {price_out:.2f} |" in docs
