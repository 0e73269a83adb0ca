"""The extension points of docs/development.md, each used as its recipe says: the new piece is
written once and registered in one place, and every part that should see it does."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.layers import INCLUDE


def copy_package(tmp_path: Path) -> Path:
    """A copy of include/bias_audit to change as a recipe says; returns the package folder."""
    package = tmp_path / "include" / "bias_audit"
    shutil.copytree(INCLUDE / "bias_audit", package, ignore=shutil.ignore_patterns("__pycache__"))
    return package


def replace_once(path: Path, old: str, new: str) -> None:
    """The recipe's one edit of a registry: ``old`` must be there exactly once."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} moved in {path.name}: update the recipe"
    path.write_text(text.replace(old, new), encoding="utf-8")


def run_probe(tmp_path: Path, code: str) -> dict:
    """Run ``code`` on the changed copy in a fresh interpreter; what it prints, as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "include"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# A task kind as the recipe writes it: tasks/rating.py, a 1-5 rating read from the answer.
RATING_KIND = '''
"""Rating tasks: the answer gives a rating from 1 to 5 (a made-up kind: the recipe's test)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from bias_audit.html import Figure, subplots
from bias_audit.metric_info import Metric, Variation
from bias_audit.schema import Strict
from bias_audit.tasks.base import UNPARSED, UNPARSED_METRIC, TaskKind


class RatingTask(Strict):
    kind: Literal["rating"]
    by: list[str] = []
    compare: list[tuple[str, str]] | None = None


RATING = Metric(
    "rating", "the rating the answer gives", "continuous", "points (1-5)",
    "positive: group a is rated higher", "the first digit 1-5 of the answer", "",
    warn=0.25, fail=0.5, calibration=Variation(centre=3.0, answer_sd=1.0, case_sd=0.5, prompt_sd=0.2),
)


def score(task, facts: Mapping, text: str, prompt: str | None) -> dict[str, object]:
    found = re.search(r"[1-5]", text)
    return {"choice": found.group(0) if found else UNPARSED,
            "rating": float(found.group(0)) if found else None, "unparsed": float(not found)}


def _figure(data):
    fig, ax = subplots(figsize=(4, 2))
    return fig


KIND = TaskKind(
    name="rating", config=RatingTask,
    columns={"choice": "string", "rating": "double", "unparsed": "double"},
    score=score, metrics=(RATING, UNPARSED_METRIC), reads=lambda task: tuple(task.by),
    figures=(Figure("ratings.png", "Ratings by group", _figure),),
)
'''

PROBE = """
import json
from bias_audit.metric_registry import METRICS, TASK_METRICS, calibrated
from bias_audit.report.figures import figures_of
from bias_audit.report.read import RunData
from bias_audit.scoring.tasks import TASK_COLUMNS, Scoring, task_scores
from bias_audit.suites.loader import load_suite

suite = load_suite("suite.yaml")
scoring = Scoring.of(suite.task)
data = RunData.__new__(RunData)
data.task = {"kind": "rating"}
print(json.dumps({
    "kind": suite.task.kind,
    "scores": task_scores(suite.task, {}, "I would give 4 out of 5.", "Rate the candidate."),
    "metrics": list(scoring.metrics),
    "tasks_of_rating": list(METRICS["rating"].tasks),
    "tasks_of_unparsed": list(METRICS["unparsed"].tasks),
    "task_metrics": list(TASK_METRICS),
    "columns": TASK_COLUMNS,
    "calibrated": list(calibrated("rating")),
    "figures": [f.file for f in figures_of(data)],
}))
"""

SUITE = """
name: rating-probe
task: {kind: rating}
cases:
  - case_id: engineer
    variants: {female: "Rate her, 1-5.", male: "Rate him, 1-5."}
"""


def test_a_task_kind_is_one_module_and_one_line_in_the_registry(tmp_path):
    package = copy_package(tmp_path)
    (package / "tasks" / "rating.py").write_text(textwrap.dedent(RATING_KIND), encoding="utf-8")
    registry = package / "tasks" / "__init__.py"
    replace_once(
        registry,
        "(choice.KIND, yes_no.KIND, esbbq.KIND, ranking.KIND)",
        "(choice.KIND, yes_no.KIND, esbbq.KIND, ranking.KIND, rating.KIND)",
    )
    imports = "from bias_audit.tasks import choice, esbbq, ranking, yes_no"
    replace_once(registry, imports, imports.replace("choice,", "choice, rating,"))
    (tmp_path / "suite.yaml").write_text(SUITE, encoding="utf-8")
    seen = run_probe(tmp_path, PROBE)
    assert seen["kind"] == "rating"
    assert seen["scores"]["rating"] == 4.0 and seen["scores"]["choice"] == "4"
    assert seen["scores"]["accuracy"] is None  # another kind's column, empty
    assert sorted(seen["metrics"]) == ["not_ok", "rating", "unparsed"]
    assert seen["tasks_of_rating"] == ["rating"]
    assert seen["tasks_of_unparsed"] == ["choice", "yes_no", "esbbq", "ranking", "rating"]
    assert "rating" in seen["task_metrics"] and seen["columns"]["rating"] == "double"
    assert "rating" in seen["calibrated"]
    assert seen["figures"][-3:] == ["task_levels.png", "ratings.png", "outcomes.png"]


def test_the_built_in_kinds_are_read_from_the_registry():
    from bias_audit.metric_registry import METRICS
    from bias_audit.report.figures import TASK_FIGURES
    from bias_audit.tasks import KINDS, TASK_COLUMNS, task_scores

    for name, kind in KINDS.items():
        assert {m.name for m in kind.metrics} <= {m for m, info in METRICS.items() if name in info.tasks}
        assert set(kind.columns) <= set(TASK_COLUMNS)
    assert task_scores({"kind": "yes_no"}, {}, "Yes, approve it.")["yes_rate"] == 1.0
    assert [f.file for f in KINDS["yes_no"].figures] == [
        "yes_by_scenario.png", "yes_by_attribute.png", "yes_by_cell.png"
    ]  # fmt: skip
    assert [f.file for f in TASK_FIGURES] == ["task_levels.png"]


# A provider as the recipe writes it: llm/echo.py and its entry in llm/registry.py's REGISTRY.
ECHO_PROVIDER = '''
"""A provider that answers with the prompt (the recipe's test)."""

from __future__ import annotations

from bias_audit.llm.base import Completion


class EchoProvider:
    name = "echo"
    api_version = None
    max_concurrency = None

    def __init__(self, model: str):
        self.model = model

    async def acomplete(self, request, limiter):
        return Completion(outcome="ok", text=request.prompt, finish_reason="stop")

    async def aclose(self):
        return None

    def batch_sender(self, run_dir):
        raise NotImplementedError
'''

ECHO_ENTRY = """
    ProviderEntry(
        "echo",
        "Echo",
        lambda settings, env: __import__("bias_audit.llm.echo", fromlist=["x"]).EchoProvider(
            (settings or {}).get("model") or env.get("ECHO_MODEL", "echo-1")
        ),
        connection=("BIAS_AUDIT_ECHO_CONN_ID", "echo_default"),
        connection_help='extra = {"model": "<model>"}',
        from_connection=lambda url, extra: {"model": extra.get("model")},
        endpoint_variable="ECHO_MODEL",
        plain_env={"model": "ECHO_MODEL"},
        secret_env={"ECHO_API_KEY": "echo-api-key"},
    ),
)
ENTRIES: dict"""

PROVIDER_PROBE = """
import json
from bias_audit.cli import parser
from bias_audit.compute.databricks import DatabricksSettings, cluster_env
from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError
from bias_audit.llm.registry import make_provider

config = RunConfig.build(run_id="probe", provider="echo", judge="echo")
judge_choices = next(a.choices for a in parser()._subparsers._group_actions[0].choices["judge"]._actions
                     if a.dest == "judge")
settings = DatabricksSettings(wheel="dbfs:/x.whl")
try:
    RunConfig.build(run_id="probe", provider="echo", batch=True)
    batch = "accepted"
except UserInputError as exc:
    batch = str(exc)
print(json.dumps({
    "provider": config.provider,
    "judge_choices": list(judge_choices),
    "env": cluster_env(settings, "echo", {"model": "m-2"}),
    "model": make_provider("echo", env={"ECHO_MODEL": "m-3"}).model,
    "title": RunConfig.model_json_schema()["properties"]["provider"]["values_display"]["echo"],
    "batch": batch,
}))
"""


def test_a_provider_is_one_registry_entry(tmp_path):
    package = copy_package(tmp_path)
    (package / "llm" / "echo.py").write_text(textwrap.dedent(ECHO_PROVIDER), encoding="utf-8")
    replace_once(package / "llm" / "registry.py", "\n)\nENTRIES: dict", ECHO_ENTRY)
    seen = run_probe(tmp_path, PROVIDER_PROBE)
    assert seen["provider"] == "echo" and "echo" in seen["judge_choices"]
    assert seen["env"] == {"ECHO_API_KEY": "{{secrets/bias-audit/echo-api-key}}", "ECHO_MODEL": "m-2"}
    assert seen["model"] == "m-3"
    assert seen["title"] == "Echo (connection echo_default)"
    assert seen["batch"].startswith("batch: needs provider azure")


# A page as the recipe writes it: a route on web.router and a template extending the base.
PAGE_ROUTE = """

@router.get("/about", response_class=HTMLResponse, name="about")
def about(request: Request) -> str:
    return _page("about.html.j2", audits=len(_listed(request)))
"""
PAGE_TEMPLATE = """{% extends "_base.html.j2" %}
{% block title %}About these audits{% endblock %}
{% block body %}<h1 id="about">{{ audits }} audit(s)</h1>{% endblock %}
"""
PAGE_PROBE = """
import json
from pathlib import Path
from fastapi.testclient import TestClient
from bias_audit.web import create_app

client = TestClient(create_app(Path("runs"), Path("warehouse")))
page = client.get("/about")
csp = page.headers.get("content-security-policy")
print(json.dumps({"status": page.status_code, "text": page.text, "csp": csp}))
"""


def test_a_page_is_a_route_and_a_template_extending_the_base(tmp_path):
    package = copy_package(tmp_path)
    web = package / "web.py"
    web.write_text(web.read_text(encoding="utf-8") + PAGE_ROUTE, encoding="utf-8")
    (package / "templates" / "about.html.j2").write_text(PAGE_TEMPLATE, encoding="utf-8")
    (tmp_path / "runs").mkdir()
    seen = run_probe(tmp_path, PAGE_PROBE)
    assert seen["status"] == 200
    assert '<h1 id="about">0 audit(s)</h1>' in seen["text"]
    assert "<title>About these audits</title>" in seen["text"]
    style = (INCLUDE / "bias_audit" / "templates" / "_style.css.j2").read_text(encoding="utf-8")
    assert style.strip().splitlines()[0].strip() in seen["text"]  # the shared style
    assert seen["csp"].startswith("default-src 'none'")


def test_every_page_template_extends_the_base():
    templates = sorted((INCLUDE / "bias_audit" / "templates").glob("*.html.j2"))
    pages = [t for t in templates if not t.name.startswith("_")]
    assert len(pages) >= 5
    for page in pages:
        assert page.read_text(encoding="utf-8").startswith('{% extends "_base.html.j2" %}'), page.name
