"""The docker-compose stack, checked structurally (no Docker engine runs on these machines): against
the Compose Specification (in place of `docker compose config`) and for what this project needs.
The same stack runs natively in tests/test_deployment.py."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
SECRET_NAME = re.compile(r"(KEY|PASSWORD|SECRET|TOKEN)", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


# Compose's variable interpolation (${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, $$), as
# `docker compose config` applies it before validating; a few lines, since no maintained Python
# library exposes Compose's interpolation on its own.
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        given = env.get(name)
        if (op in (":-", ":?") and not given) or (op in ("-", "?") and given is None):
            if op.endswith("?"):
                raise AssertionError(f"compose needs {name}: {arg}")
            return arg
        return given or ""

    return _VARIABLE.sub(value, text)


def env_example() -> dict[str, str]:
    lines = (REPO / ".env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def validate(document: dict) -> None:
    """The Compose Specification's validation (the compose-spec package: the Rust compose_spec
    crate's parser and the specification's schema as pydantic models); raises ValueError."""
    from compose_spec import PyCompose

    PyCompose.from_json(json.dumps(document)).to_spec()


def test_the_stack_follows_the_compose_specification():
    env = {**env_example(), "AIRFLOW_JWT_SECRET": "a-secret-for-the-check"}
    # yaml resolves the anchors and merge keys (<<: *airflow-common) as compose does
    document = yaml.safe_load(interpolate((REPO / "docker-compose.yml").read_text(), env))
    validate(document)
    # the check can fail: a misspelt key and a value outside the specification are rejected
    misspelt = json.loads(json.dumps(document))
    misspelt["services"]["postgres"]["healthchek"] = misspelt["services"]["postgres"].pop("healthcheck")
    with pytest.raises(ValueError, match="healthchek"):
        validate(misspelt)
    wrong = json.loads(json.dumps(document))
    wrong["services"]["airflow-scheduler"]["restart"] = "sometimes"
    with pytest.raises(ValueError, match="sometimes"):
        validate(wrong)
    with pytest.raises(AssertionError, match="AIRFLOW_JWT_SECRET"):
        interpolate((REPO / "docker-compose.yml").read_text(), {})


def pins() -> dict[str, str]:
    lines = (REPO / "constraints.txt").read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))


def test_services_and_executor(compose):
    services = compose["services"]
    assert set(services) >= {"postgres", "airflow-init", *AIRFLOW_SERVICES, "llm-server"}
    commands = {name: services[name]["command"] for name in AIRFLOW_SERVICES}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
    }
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert services["airflow-apiserver"]["ports"] == ["8080:8080"]
    assert services["llm-server"]["profiles"] == ["llm-server"]  # optional


def test_healthchecks_and_start_order(compose):
    services = compose["services"]
    for name in ("postgres", *AIRFLOW_SERVICES, "llm-server"):
        assert services[name]["healthcheck"]["test"], name
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"] == {"condition": "service_healthy"}, name
        assert depends["airflow-init"] == {"condition": "service_completed_successfully"}, name
    assert services["llm-server"]["depends_on"]["airflow-init"] == {
        "condition": "service_completed_successfully"
    }


def test_init_migrates_creates_the_admin_and_assembles_the_model(compose):
    init = compose["services"]["airflow-init"]
    script = "\n".join(init["command"])
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert "/entrypoint airflow version" in script  # the image's entrypoint migrates on this flag
    assert "simple_auth_manager_passwords.json" in script
    assert init["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert "model_path()" in script


def test_project_folders_and_named_volumes_are_mounted(compose):
    for name in AIRFLOW_SERVICES:
        volumes = compose["services"][name]["volumes"]
        assert {
            "./dags:/opt/airflow/dags",
            "./plugins:/opt/airflow/plugins",
            "./include:/opt/bias-audit/include",
            "bias-audit-data:/opt/bias-audit-data",
            "./suites:/opt/bias-audit/suites:ro",  # the only files DAG params may name
        } <= set(volumes)
    assert {"bias-audit-data", "postgres-db-volume"} <= set(compose["volumes"])
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["BIAS_AUDIT_HOME"] == "/opt/bias-audit-data"  # warehouse, runs and reports on the volume
    assert env["BIAS_AUDIT_MODEL_CACHE"].startswith("/opt/bias-audit-data/")
    assert env["BIAS_AUDIT_SUITES_DIR"] == "/opt/bias-audit/suites"


def _walk(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")
    else:
        yield path, node


def test_no_secret_is_written_inline(compose):
    for path, value in _walk(compose):
        name = path.rsplit(".", 1)[-1]
        if SECRET_NAME.search(name) and "PASSWORDS_FILE" not in name:
            assert isinstance(value, str) and value.startswith("${"), f"{path} holds a literal: {value!r}"
    text = (REPO / "docker-compose.yml").read_text()
    assert "sk-" not in text and "dapi" not in text


def test_env_example_documents_every_variable_compose_reads(compose):
    text = (REPO / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    example = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, re.MULTILINE))
    assert used <= documented, used - documented
    assert {
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_DEPLOYMENT",
        "BIAS_AUDIT_COMPUTE",
        "AIRFLOW_CONN_DATABRICKS_DEFAULT",
        "BIAS_AUDIT_DATABRICKS",
    } <= documented
    for line in example.splitlines():
        name, _, value = line.partition("=")
        if SECRET_NAME.search(name) and not line.startswith("#") and name not in {"AIRFLOW_JWT_SECRET"}:
            assert value in {"", "admin", "airflow"}, f".env.example holds a real-looking secret: {line}"
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_image_installs_the_projects_pins():
    dockerfile = (REPO / "Dockerfile").read_text()
    airflow = pins()["apache-airflow"]
    assert f"ARG AIRFLOW_VERSION={airflow}" in dockerfile
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}" in dockerfile
    install = next(line for line in dockerfile.split("RUN ") if "pip install" in line)
    assert "-c constraints.txt" in install and '"apache-airflow==${AIRFLOW_VERSION}"' in install
    assert 'CMAKE_ARGS="$(cat scripts/llama-cmake-args)"' in install  # the same build as setup.sh
    assert "default-jre-headless" in dockerfile and "JAVA_HOME" in dockerfile
    assert "COPY --chown=airflow:root pyproject.toml README.md constraints.txt" in dockerfile
    assert 'LLAMA_CMAKE_ARGS="$(cat scripts/llama-cmake-args)"' in (REPO / "scripts/setup.sh").read_text()


@pytest.mark.slow
def test_llm_server_command_serves_the_local_model_to_the_openai_provider(compose, tmp_path):
    """Run the optional service's command for real (model path and port adapted to this machine)
    and audit through it with --provider openai: an OpenAI-compatible server, real HTTP."""
    from bias_audit.config import RunConfig
    from bias_audit.generate import generate
    from bias_audit.llm.local import model_path
    from bias_audit.llm.remote import OpenAICompatibleProvider, OpenAISettings

    service = compose["services"]["llm-server"]
    assert service["entrypoint"] == ["python", "-m", "llama_cpp.server"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    local = {"--model": str(model_path()), "--host": "127.0.0.1", "--port": str(port)}
    args = [
        next((f"{k}={v}" for k, v in local.items() if arg.startswith(k + "=")), arg)
        for arg in service["command"]
    ]
    log = (tmp_path / "llm-server.log").open("w")  # a file, not a pipe: llama.cpp logs a lot
    server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", *args], stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 60
        while True:
            try:
                models = json.load(urllib.request.urlopen(f"{base}/models", timeout=2))
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "llm-server.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "llm-server did not come up"
                time.sleep(0.5)
        assert [m["id"] for m in models["data"]] == ["gemma-3-270m"]  # --model_alias
        provider = OpenAICompatibleProvider(OpenAISettings(base_url=base, model="gemma-3-270m"))
        config = RunConfig.build(run_id="srv", suite="seed-lab", samples=1, provider="openai", max_tokens=8)
        result = generate(config, tmp_path, provider)
        records = [json.loads(line) for line in (result.run_dir / "responses.jsonl").read_text().splitlines()]
        assert len(records) == 10
        assert {r["outcome"] for r in records} <= {"ok", "truncated"}
        assert all(r["completion_tokens"] and r["response_id"] for r in records)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
