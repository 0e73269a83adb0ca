from __future__ import annotations

import json

import pytest

from bias_audit.cli import main
from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError
from bias_audit.generate import generate
from bias_audit.llm.local import LocalProvider, render_prompt
from bias_audit.named_files import text_or_file
from bias_audit.records import ResponseRecord
from bias_audit.run_folder import ResponseLog, RunFolder
from bias_audit.run_requests import expand
from bias_audit.suites import load_suite


@pytest.fixture(scope="module")
def provider() -> LocalProvider:
    return LocalProvider()


def config(run_id: str = "g1", **values) -> RunConfig:
    return RunConfig.build(run_id=run_id, suite="seed-lab", **{"samples": 2, "max_tokens": 12, **values})


def read(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_expand_gives_k_samples_per_prompt_with_distinct_seeds():
    requests = expand(load_suite("seed-lab"), config(samples=3))
    assert len(requests) == 30
    assert len({(r.case_id, r.variant, r.sample_index) for r in requests}) == 30
    assert len({r.seed for r in requests}) == 30
    assert {r.max_tokens for r in requests} == {12}
    assert {r.temperature for r in requests} == {0.7}  # the suite's default
    assert expand(load_suite("seed-lab"), config(samples=3)) == requests  # reproducible
    keys = {r.key("local", "m", None) for r in requests}
    assert len(keys) == 30
    assert requests[0].key("local", "m", None) != requests[0].key("local", "other-model", None)


def test_completion_template_is_question_answer():
    assert render_prompt("Be fair.", "Describe a chef.") == "Be fair.\n\nQuestion: Describe a chef.\nAnswer:"


def test_generate_records_every_answer_of_the_real_model(tmp_path, provider):
    result = generate(config(), tmp_path, provider)
    records = read(tmp_path / "g1" / "responses.jsonl")
    assert result.total == result.sent == len(records) == 20
    for raw in records:
        record = ResponseRecord.model_validate(raw)  # the full schema, nothing missing
        assert record.provider == "local" and record.model == "gemma-3-270m-q4_k_m"
        assert record.outcome in {"ok", "truncated"}
        assert record.text is not None
        assert 0 < record.completion_tokens <= 12
        assert record.prompt_tokens > 10
        assert record.max_tokens == 12 and record.temperature == 0.7
        assert record.system_prompt.startswith("You are an advanced language model")
    assert len({r["request_key"] for r in records}) == 20
    assert len({r["text"] for r in records}) > 10  # temperature > 0: samples differ
    manifest = json.loads((tmp_path / "g1" / "run.json").read_text())
    assert manifest["status"] == "generated" and manifest["requests"] == 20
    assert manifest["suite_hash"] == load_suite("seed-lab").content_hash()


def test_rerun_sends_nothing_already_recorded_and_resumes_after_a_crash(tmp_path, provider):
    generate(config("g2", samples=1), tmp_path, provider)
    path = tmp_path / "g2" / "responses.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    # a crash: the last three answers were never written, the one before was torn mid-line
    path.write_text("".join(lines[:6]) + lines[6][:40])

    result = generate(config("g2", samples=1), tmp_path, provider)

    assert (result.already_recorded, result.sent) == (6, 4)
    records = read(path)
    assert len(records) == 10
    assert len({r["request_key"] for r in records}) == 10
    assert records[:6] == [json.loads(line) for line in lines[:6]]  # nothing recorded is lost
    again = generate(config("g2", samples=1), tmp_path, provider)
    assert (again.already_recorded, again.sent) == (10, 0)
    assert len(read(path)) == 10


def test_same_seed_same_answer(tmp_path, provider):
    generate(config("s1", samples=1, max_tokens=16), tmp_path, provider)
    generate(config("s2", samples=1, max_tokens=16), tmp_path, provider)
    first = {r["request_key"]: r["text"] for r in read(tmp_path / "s1" / "responses.jsonl")}
    second = {r["request_key"]: r["text"] for r in read(tmp_path / "s2" / "responses.jsonl")}
    assert first == second


def test_response_log_without_file_has_no_keys(tmp_path):
    assert ResponseLog(tmp_path / "none.jsonl").recorded_keys() == set()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--samples", "0"], "samples: Input should be greater than 0 (value: 0)"),
        (["--samples", "-3"], "samples: Input should be greater than 0 (value: -3)"),
        (["--samples", "1", "--max-tokens", "0"], "max_tokens: Input should be greater than 0 (value: 0)"),
        (["--samples", "1", "--temperature", "3"], "temperature: Input should be less than or equal to 2"),
        (["--samples", "1", "--run-id", "../escape"], "run_id: String should match pattern"),
        (["--samples", "1", "--suite", "nope"], "unknown suite 'nope'"),
    ],
)
def test_generate_cli_rejects_bad_input(tmp_path, capsys, args, message):
    base = {"--suite": "seed-lab", "--run-id": "bad", "--out": str(tmp_path)}
    argv = ["generate"]
    for flag, value in base.items():
        if flag not in args:
            argv += [flag, value]
    assert main(argv + args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_run_config_names_the_field():
    with pytest.raises(UserInputError, match=r"^samples: "):
        RunConfig.build(run_id="x", suite="seed-lab", samples=0)


def test_the_manifest_records_the_case_attributes_the_analysis_needs(tmp_path, provider):
    suite = tmp_path / "pilots.yaml"
    suite.write_text(
        "name: pilots\ncases:\n"
        "  - case_id: pilot\n"
        "    variants: {neutral: Describe a pilot., female: Describe a female pilot.}\n"
        "    attributes: {occupation: pilot, bls_pct_female: 5.2}\n"
    )
    run = RunConfig.build(run_id="attrs", suite=str(suite), samples=1, max_tokens=4)
    generate(run, tmp_path / "runs", provider)
    suite.unlink()  # the suite may change or go after the run: the run keeps what it needs
    folder = RunFolder.of(tmp_path / "runs", "attrs")
    assert folder.case_attributes() == {"pilot": {"occupation": "pilot", "bls_pct_female": 5.2}}
    assert folder.read_manifest()["suite_source"] == str(suite)


def test_a_runs_system_prompt_replaces_the_suites_and_changes_the_keys(tmp_path):
    suite = load_suite("seed-lab")
    lab = expand(suite, config())
    mitigation = tmp_path / "mitigation.txt"
    mitigation.write_text("Treat every person the same, whatever their gender.\n")
    mitigated = expand(suite, config(system_prompt=text_or_file(str(mitigation))))  # as the CLI reads it
    none = expand(suite, config(system_prompt=""))
    assert {r.system_prompt for r in lab} == {suite.system_prompt}
    assert {r.system_prompt for r in mitigated} == {"Treat every person the same, whatever their gender."}
    assert {r.system_prompt for r in none} == {""}
    keys = [{r.key("local", "m", None) for r in requests} for requests in (lab, mitigated, none)]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2])  # recorded answers are never reused
    assert text_or_file(str(mitigation)).startswith("Treat every person")


def test_llama_cpp_warnings_reach_the_log_at_their_level_and_the_harmless_one_is_debug(caplog):
    """llama.cpp's own messages: its warnings and errors in Python logging, not printed to stderr
    (which a task log shows as ERROR), and its harmless cache notice at debug level."""
    import logging

    from bias_audit.llm.local import route_llama_logs

    route_llama_logs()
    forward = route_llama_logs.callback
    with caplog.at_level(logging.DEBUG, logger="bias_audit.llama_cpp"):
        forward(3, b"llama_kv_cache_iswa: using full-size SWA cache (ref: x)\n", None)
        forward(3, b"a real warning\n", None)
        forward(4, b"a real error\n", None)
        forward(2, b"an info line\n", None)
    seen = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "bias_audit.llama_cpp"]
    assert seen == [
        ("DEBUG", "llama_kv_cache_iswa: using full-size SWA cache (ref: x)"),
        ("WARNING", "a real warning"),
        ("ERROR", "a real error"),
    ]
