"""The audit pages: a FastAPI app listing audit runs with their verdicts, serving each run's
report and the trend page.

Airflow mounts it under its api-server (plugins/bias_audit_plugin.py adds Airflow's auth); it
runs just as well on its own (``uvicorn --factory bias_audit.web:create_app``). It only reads:
the warehouse's ``runs`` and ``metrics`` tables, the runs' report files, and the runs that are not
in the local tables but whose analysis was mirrored into the runs folder (``analysis.json``, as the
Databricks backend does: its tables are in Unity Catalog).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.params import Depends
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from bias_audit.catalog import RUN_COLUMNS, airflow_run_path, all_runs, neighbours, read_runs, suite_family
from bias_audit.compare import compare_audits, render_comparison
from bias_audit.errors import UserInputError
from bias_audit.html import THEME_SCRIPT_HASH, environment, fmt
from bias_audit.paths import runs_dir, warehouse_dir
from bias_audit.run_folder import RunFolder, is_run_id, safe_run_id, trends_page
from bias_audit.tables import open_tables
from bias_audit.trends import render_trends
from bias_audit.trends import trends as trends_of

log = logging.getLogger(__name__)
_PLOT = re.compile(r"^[a-z_]+\.png$")


# Every page is served with these. The pages are on Airflow's origin, and a report's text is the
# model's (and may be copied back from a Databricks volume): no script may run in them, whatever
# an answer holds, but the one that follows Airflow's light/dark choice (html.THEME_SCRIPT, allowed
# by its hash); images are the run's own plots or inline data; styles are inline.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    f"script-src '{THEME_SCRIPT_HASH}'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

MOUNT = "/bias-audit"  # where plugins/bias_audit_plugin.py mounts these pages on the api-server


def airflow_run_url(request: Request, row: Mapping[str, Any]) -> str | None:
    """The Airflow UI's page of the DAG run that made an audit, when these pages are mounted in
    Airflow (the UI is beside them) and the run recorded its DAG run."""
    root = request.scope.get("root_path", "")
    if not root.endswith(MOUNT):
        return None
    path = airflow_run_path(row)
    return f"{root.removesuffix(MOUNT)}/{path}" if path else None


def create_app(
    runs: Path | None = None, warehouse: Path | None = None, dependencies: Sequence[Depends] = ()
) -> FastAPI:
    """``runs`` and ``warehouse`` default to ``$BIAS_AUDIT_HOME``'s, read at each request."""
    app = FastAPI(title="Bias audits", dependencies=list(dependencies), docs_url=None, redoc_url=None)
    app.state.runs, app.state.warehouse = runs, warehouse

    @app.middleware("http")
    async def secure_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    app.include_router(router)
    return app


# The pages: each a route of this router and a template extending _base.html.j2
# (docs/development.md, "A page of the audit UI").
router = APIRouter()


def _runs(request: Request) -> Path:
    return request.app.state.runs or runs_dir()


def _warehouse(request: Request) -> Path:
    return request.app.state.warehouse or warehouse_dir()


def _folder(request: Request, run_id: str) -> RunFolder:
    if not is_run_id(run_id):
        raise HTTPException(404, f"no audit run {run_id!r}")
    return RunFolder.of(_runs(request), run_id)


def _listed(request: Request) -> list[dict[str, Any]]:
    """Every run the pages know, newest first (catalog.all_runs)."""
    return all_runs(read_runs(_warehouse(request)), _runs(request))


def comparable_by_suite(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The runs the compare form offers: analysed ones (a verdict), newest first, grouped by suite
    (the suite of the newest first): only runs of one suite can be compared, or of a suite and its
    translation (occupations-gender and occupations-gender-es: one group, both named)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("verdict"):
            groups.setdefault(suite_family(row), []).append(row)
    return [
        (", ".join(dict.fromkeys(str(r.get("suite")) for r in members)), members)
        for members in groups.values()
    ]


def _page(template: str, **context: Any) -> str:
    return environment().get_template(template).render(fmt=fmt, **context)


@router.get("/", response_class=HTMLResponse, name="index")
def index(request: Request) -> str:
    local = read_runs(_warehouse(request))
    rows = all_runs(local, _runs(request))
    for row in rows:
        row["has_report"] = _folder(request, row["run_id"]).report.is_file()
        row["has_comparison"] = _folder(request, row["run_id"]).comparison_page.is_file()
    mirrored = not local and trends_page(_runs(request)).is_file()
    return _page(
        "runs.html.j2",
        runs=rows,
        comparable=comparable_by_suite(rows),
        airflow_run=lambda row: airflow_run_url(request, row),
        trends_url=str(request.url_for("mirrored_trends" if mirrored else "trends")),
        url=lambda name, **kw: str(request.url_for(name, **kw)),
    )


@router.get("/api/runs", name="api_runs")
def api_runs(request: Request) -> list[dict[str, Any]]:
    """The run's identity, its size and its verdict: the runs table's first columns, and when."""
    keep = ("at", *RUN_COLUMNS[: RUN_COLUMNS.index("verdict_scope") + 1])
    return [{k: row.get(k) for k in keep} for row in _listed(request)]


@router.get("/runs/trends.html", name="mirrored_trends")
def mirrored_trends(request: Request) -> FileResponse:
    """The trend page as the compute wrote it (Databricks: copied from the runs volume)."""
    return _served(trends_page(_runs(request)), "no trend page has been written yet")


@router.get("/runs/{run_id}/report.html", name="report", response_model=None)
def report(run_id: str, request: Request) -> FileResponse | HTMLResponse:
    """The run's report; while there is none (the run is still going, or failed before its
    report task), a page that says so instead of an error."""
    folder = _folder(request, run_id)
    if folder.report.is_file():
        return FileResponse(folder.report, media_type="text/html")
    analysed = folder.read_analysis() or next(
        iter(open_tables(_warehouse(request)).rows("runs", run_id)), None
    )
    html = _page(
        "no_report.html.j2",
        run_id=run_id,
        verdict=(analysed or {}).get("verdict"),
        started=folder.path.is_dir(),
        failure=folder.read_failure(),
        runs_url=str(request.url_for("index")),
    )
    return HTMLResponse(html, status_code=404)


@router.get("/runs/{run_id}/comparison.html", name="comparison")
def comparison(run_id: str, request: Request) -> FileResponse:
    """The run against its baseline audit, as the report task wrote it (the report links it)."""
    message = f"audit run {run_id!r} was not compared with a baseline"
    return _served(_folder(request, run_id).comparison_page, message)


# The compare form's fields as the page names them (compare_audits names the CLI's flags).
_COMPARE_FIELDS = {"--baseline": "The baseline", "--candidate": "The candidate"}


@router.get("/compare", response_class=HTMLResponse, name="compare", response_model=None)
def compare(baseline: str, candidate: str, request: Request) -> str | HTMLResponse:
    """Any two analysed runs of one suite, compared on the fly (nothing is written)."""
    for run_id in (baseline, candidate):
        _folder(request, run_id)  # a malformed id is a 404 like any unknown run
    try:
        result = compare_audits(baseline, candidate, _warehouse(request))
    except UserInputError as exc:  # said without its source: a server path is not the user's
        which = _COMPARE_FIELDS.get(exc.field or "", exc.field)
        problem = f"{which}: {exc.problem}" if which else exc.problem
        html = _page("compare_error.html.j2", problem=problem, runs_url=str(request.url_for("index")))
        return HTMLResponse(html, status_code=400)
    return render_comparison(
        result,
        str(request.url_for("report", run_id=baseline)),
        str(request.url_for("report", run_id=candidate)),
        str(request.url_for("index")),
    )


@router.get("/runs/{run_id}/neighbour/{direction}", name="neighbour", response_model=None)
def neighbour(run_id: str, direction: str, request: Request) -> RedirectResponse | HTMLResponse:
    """The previous or next audit of the same suite, provider and model (the report links
    both): a redirect to its report, or a page that says there is none."""
    if direction not in ("previous", "next"):
        raise HTTPException(404, f"no {direction!r}: previous or next")
    rows = _listed(request)
    found = neighbours(rows, run_id)
    if found is None:
        raise HTTPException(404, f"no audit run {run_id!r}")
    target = found[1] if direction == "next" else found[0]
    if target is not None:
        return RedirectResponse(str(request.url_for("report", run_id=target["run_id"])), status_code=307)
    this = next(r for r in rows if r["run_id"] == run_id)
    html = _page(
        "no_report.html.j2",
        run_id=run_id,
        verdict=None,
        started=True,
        failure=None,
        heading=f"No {direction} audit",
        missing=f"This is the {'latest' if direction == 'next' else 'first'} audit of suite "
        f"{this.get('suite')} with {this.get('provider')} / {this.get('model')}.",
        runs_url=str(request.url_for("index")),
    )
    return HTMLResponse(html, status_code=404)


@router.get("/runs/{run_id}/suite_review.html", name="suite_review")
def suite_review(run_id: str, request: Request) -> FileResponse:
    """The review file of a suite made from a team's prompts, as kept with the run (the report links it)."""
    message = f"audit run {run_id!r} did not use a suite made by suites from-prompts"
    return _served(_folder(request, run_id).suite_review, message)


@router.get("/runs/{run_id}/{name}", name="plot")
def plot(run_id: str, name: str, request: Request) -> FileResponse:
    path = _folder(request, run_id).path / name
    if not _PLOT.match(name) or not path.is_file():
        raise HTTPException(404, f"no plot {name!r} for audit run {run_id!r}")
    return FileResponse(path, media_type="image/png")


@router.get("/trends", response_class=HTMLResponse, name="trends")
def trends(request: Request) -> str:
    history = trends_of(_warehouse(request))
    return render_trends(
        history,
        lambda run_id: str(request.url_for("report", run_id=run_id)),
        str(request.url_for("index")),
    )


@router.get("/dag-runs/{run_id:path}", name="dag_run")
def dag_run(run_id: str, request: Request) -> RedirectResponse:
    """From an Airflow DAG run (its run id, e.g. ``manual__2026-11-29T10:59:26+00:00``) to the
    report of the audit it ran, whose id is the path-safe form of it."""
    return RedirectResponse(str(request.url_for("report", run_id=safe_run_id(run_id))), status_code=307)


def _served(path: Path, missing: str, media_type: str = "text/html") -> FileResponse:
    """A file of the runs folder, or a 404 that says why it is not there."""
    if not path.is_file():
        raise HTTPException(404, missing)
    return FileResponse(path, media_type=media_type)
