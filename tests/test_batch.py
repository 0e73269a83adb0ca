"""Generation through the Azure OpenAI Batch API, against the fake server's files and batches
endpoints: the same records as the online path, expired lines sent again by a later run, a
killed run re-attaching to its batch, cancelling, splitting, and bad input."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bias_audit.cli import main
from bias_audit.config import RunConfig
from bias_audit.errors import ProviderSetupError
from bias_audit.generate import generate
from bias_audit.llm.batch import BATCHES_FILE
from bias_audit.llm.registry import make_provider
from bias_audit.run_requests import expand
from bias_audit.suites import load_suite
from tests.fake_azure_openai import COMPLETION_FLAG, PROMPT_FLAG, FakeAzureOpenAI, ServerState

REPO = Path(__file__).resolve().parents[1]
DEPLOYMENT = "gpt-4o-batch"


def flagged_suite(tmp_path) -> str:
    """Three cases, one whose prompt the content filter stops, one whose answer it filters."""
    path = tmp_path / "flagged.yaml"
    path.write_text(
        "name: flagged\ndescription: prompts the filter catches\ndefaults: {max_tokens: 20}\ncases:\n"
        "  - {case_id: plain, variants: {neutral: Describe a nurse., female: Describe a female nurse.}}\n"
        f"  - {{case_id: stopped, variants: {{neutral: Describe a {PROMPT_FLAG} nurse.}}}}\n"
        f"  - {{case_id: cut, variants: {{neutral: Describe a {COMPLETION_FLAG} nurse.}}}}\n"
    )
    return str(path)


def state(**values) -> ServerState:
    return ServerState(deployments=(DEPLOYMENT,), batch_deployments=(DEPLOYMENT,), **values)


def provider(server, deployment: str = DEPLOYMENT):
    return make_provider(
        "azure",
        {
            "endpoint": server.endpoint,
            "api_key": server.state.api_key,
            "deployment": deployment,
            "batch_poll_seconds": 0.02,
        },
    )


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "responses.jsonl").read_text().splitlines()]


def latest(run_dir: Path) -> dict[str, dict]:
    return {r["request_key"]: r for r in records(run_dir)}


def test_a_batch_run_records_what_the_online_run_records(tmp_path):
    suite = flagged_suite(tmp_path)
    with FakeAzureOpenAI(state()) as server:
        online = generate(
            RunConfig.build(run_id="on", suite=suite, provider="azure", samples=2), tmp_path, provider(server)
        )
        batch = generate(
            RunConfig.build(run_id="off", suite=suite, provider="azure", samples=2, batch=True),
            tmp_path,
            provider(server),
        )
        calls = server.state.batch_calls
    assert [c for c in calls if c[0] == "POST"] == [("POST", "files"), ("POST", "batches")]
    on, off = latest(online.run_dir), latest(batch.run_dir)
    assert on.keys() == off.keys() and len(off) == 8
    for key, record in on.items():
        assert off[key]["outcome"] == record["outcome"], record["prompt"]
        assert (off[key]["content_filter"] is None) == (record["content_filter"] is None)
        assert off[key]["text"] == record["text"]
    outcomes = sorted(r["outcome"] for r in off.values())
    assert outcomes == ["completion_filtered"] * 2 + ["ok"] * 4 + ["prompt_filtered"] * 2
    filtered = next(r for r in off.values() if r["outcome"] == "prompt_filtered")
    assert json.loads(filtered["content_filter"])["hate"]["filtered"] is True
    (entry,) = json.loads((batch.run_dir / BATCHES_FILE).read_text())
    assert entry["collected"] and entry["status"] == "completed" and len(entry["keys"]) == 8


def test_expired_lines_are_recorded_as_failed_and_sent_again_by_a_later_run(tmp_path):
    config = RunConfig.build(run_id="x", suite="seed-lab", provider="azure", samples=2, batch=True)
    with FakeAzureOpenAI(state(batch_fate="expired")) as server:
        p = provider(server)
        keys = [r.key(p.name, p.model, p.api_version) for r in expand(load_suite("seed-lab"), config)]
        server.state.batch_expire = tuple(keys[:5])
        generate(config, tmp_path, p)
        first = latest(tmp_path / "x")
        assert sorted(k for k, r in first.items() if r["outcome"] == "failed") == sorted(keys[:5])
        assert all(first[k]["error"].startswith("batch: batch_expired") for k in keys[:5])
        server.state.batch_fate = "completed"
        again = generate(config, tmp_path, provider(server))
        uploads = [f["data"] for f in server.state.files.values() if f["purpose"] == "batch"]
    assert again.sent == 5 and len(uploads[-1].splitlines()) == 5  # only the expired ones
    assert {r["outcome"] for r in latest(tmp_path / "x").values()} == {"ok"}


CHILD = """
import sys
from pathlib import Path
from bias_audit.config import RunConfig
from bias_audit.generate import generate
from bias_audit.llm.registry import make_provider
endpoint, key, out = sys.argv[1:4]
provider = make_provider("azure", {"endpoint": endpoint, "api_key": key, "deployment": "gpt-4o-batch",
                                   "batch_poll_seconds": 0.05})
config = RunConfig.build(run_id="k", suite="seed-lab", provider="azure", samples=2, batch=True)
generate(config, Path(out), provider)
"""


def test_a_killed_run_re_attaches_to_its_batch_and_submits_no_second_one(tmp_path):
    with FakeAzureOpenAI(state(batch_polls=10**6)) as server:  # the batch stays in progress
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, server.endpoint, server.state.api_key, str(tmp_path)],
            env={**os.environ, "PYTHONPATH": str(REPO / "include")},
        )
        deadline = time.monotonic() + 60
        while not (tmp_path / "k" / BATCHES_FILE).is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # polling
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert not records_or_empty(tmp_path / "k")
        server.state.batch_polls = 0  # the batch finishes at the next poll
        result = generate(
            RunConfig.build(run_id="k", suite="seed-lab", provider="azure", samples=2, batch=True),
            tmp_path,
            provider(server),
        )
        created = [c for c in server.state.batch_calls if c == ("POST", "batches")]
    assert len(created) == 1 and result.sent == 20
    assert len(records(tmp_path / "k")) == 20 == len(latest(tmp_path / "k"))


def records_or_empty(run_dir: Path) -> list[dict]:
    path = run_dir / "responses.jsonl"
    return records(run_dir) if path.is_file() and path.read_text() else []


def test_cancelling_the_task_cancels_the_batch(tmp_path):
    config = RunConfig.build(run_id="c", suite="seed-lab", provider="azure", samples=1, batch=True)
    with FakeAzureOpenAI(state(batch_polls=10**6)) as server:
        p = provider(server)
        sender = p.batch_sender(tmp_path / "c")
        pending = [(r.key(p.name, p.model, p.api_version), r) for r in expand(load_suite("seed-lab"), config)]

        async def go() -> None:
            try:
                await asyncio.wait_for(sender.send(pending, lambda *a: None), timeout=0.5)
            finally:
                await p.aclose()

        with pytest.raises(TimeoutError):
            asyncio.run(go())
        (batch,) = server.state.batches.values()
        assert ("POST", f"batches/{batch['id']}/cancel") in server.state.batch_calls
        assert batch["status"] == "cancelling"
    (entry,) = json.loads((tmp_path / "c" / BATCHES_FILE).read_text())
    assert entry["status"] == "cancelling" and not entry["collected"]


def test_large_runs_are_split_within_the_limits(tmp_path):
    config = RunConfig.build(run_id="s", suite="seed-lab", provider="azure", samples=2, batch=True)
    with FakeAzureOpenAI(state()) as server:
        p = provider(server)
        parts = list(
            p.batch_sender(tmp_path)._parts(
                [(str(i), r) for i, r in enumerate(expand(load_suite("seed-lab"), config))]
            )
        )
        assert [len(part) for part in parts] == [20]
        sender = p.batch_sender(tmp_path)
        sender.max_lines = 7
        assert [
            len(part)
            for part in sender._parts(
                [(str(i), r) for i, r in enumerate(expand(load_suite("seed-lab"), config))]
            )
        ] == [7, 7, 6]
        sender = p.batch_sender(tmp_path)
        sender.enqueued_tokens = 1_000  # each request: about 30 prompt tokens + max_tokens 100
        sizes = [
            len(part)
            for part in sender._parts(
                [(str(i), r) for i, r in enumerate(expand(load_suite("seed-lab"), config))]
            )
        ]
        assert sum(sizes) == 20 and max(sizes) <= 7 and len(sizes) >= 3


def test_a_deployment_that_is_not_a_batch_deployment_is_named(tmp_path):
    with FakeAzureOpenAI(state()) as server:
        p = provider(server, deployment="gpt-4o-standard")
        config = RunConfig.build(run_id="d", suite="seed-lab", provider="azure", samples=1, batch=True)
        with pytest.raises(
            ProviderSetupError, match=r"check AZURE_OPENAI_DEPLOYMENT \('gpt-4o-standard'\): --batch"
        ):
            generate(config, tmp_path, p)


def test_batch_needs_the_azure_provider(tmp_path, capsys):
    argv = ["generate", "--suite", "seed-lab", "--run-id", "bad", "--out", str(tmp_path), "--batch"]
    assert main(argv) == 2
    assert "batch: needs provider azure" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
