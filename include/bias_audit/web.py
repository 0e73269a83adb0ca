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
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.params import Depends
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from bias_audit.errors import UserInputError
from bias_audit.html import environment, fmt
from bias_audit.paths import runs_dir, warehouse_dir
from bias_audit.run_folder import RunFolder, analysed_runs, is_run_id, safe_run_id, started_runs, trends_page
from bias_audit.tables import open_tables
from bias_audit.trends import RUN_COLUMNS, read_runs, render_trends, run_summary, shown_time
from bias_audit.trends import trends as trends_of

log = logging.getLogger(__name__)
_PLOT = re.compile(r"^[a-z_]+\.png$")


# What the list says of a run that has no analysis yet, by its manifest's status.
_NOT_ANALYSED = {
    "generating": "generating (or stopped during generation: see the generate task's log)",
    "generated": "generated, not analysed yet (or its analysis failed: see the analyze task's log)",
}


def unanalysed(folder: RunFolder) -> dict[str, Any]:
    """A run the tables do not have yet, as the list shows it: from its manifest (run.json)."""
    manifest = folder.read_manifest()
    at = manifest.get("updated_at") or ""
    return {
        "run_id": folder.run_id,
        "suite": manifest.get("suite"),
        "provider": manifest.get("provider"),
        "model": manifest.get("model"),
        "samples": manifest.get("samples"),
        "mode": manifest.get("mode"),
        "stop_reason": None,
        "rounds": None,
        "airflow_dag_id": manifest.get("airflow_dag_id"),
        "airflow_run_id": manifest.get("airflow_run_id"),
        "responses": None,
        "verdict": None,
        "status": _NOT_ANALYSED.get(str(manifest.get("status")), str(manifest.get("status"))),
        "at": str(at).replace("T", " "),
        "shown_at": shown_time(at),
    }


# Every page is served with these. The pages are on Airflow's origin, and a report's text is the
# model's (and may be copied back from a Databricks volume): no script may run in them, whatever
# an answer holds; images are the run's own plots or inline data; styles are inline.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

MOUNT = "/bias-audit"  # where plugins/bias_audit_plugin.py mounts these pages on the api-server


def airflow_run_url(request: Request, row: Mapping[str, Any]) -> str | None:
    """The Airflow UI's page of the DAG run that made an audit, when these pages are mounted in
    Airflow (the UI is beside them) and the run recorded its DAG run."""
    root = request.scope.get("root_path", "")
    if not root.endswith(MOUNT) or not row.get("airflow_run_id") or not row.get("airflow_dag_id"):
        return None
    dag_id, run_id = (quote(str(row[k]), safe="") for k in ("airflow_dag_id", "airflow_run_id"))
    return f"{root.removesuffix(MOUNT)}/dags/{dag_id}/runs/{run_id}"


def create_app(
    runs: Path | None = None, warehouse: Path | None = None, dependencies: Sequence[Depends] = ()
) -> FastAPI:
    """``runs`` and ``warehouse`` default to ``$BIAS_AUDIT_HOME``'s, read at each request."""
    app = FastAPI(title="Bias audits", dependencies=list(dependencies), docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def secure_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    def run_folder(run_id: str) -> RunFolder:
        if not is_run_id(run_id):
            raise HTTPException(404, f"no audit run {run_id!r}")
        return RunFolder.of(runs or runs_dir(), run_id)

    def all_runs(local: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Newest first: the runs of the local tables (``local``, from read_runs), and those only
        mirrored into the runs folder."""
        rows = list(local)
        known = {row["run_id"] for row in rows}
        for folder in analysed_runs(runs or runs_dir()):
            mirrored = (folder.read_analysis() or {}).get("run")
            if mirrored and mirrored.get("run_id") not in known:
                rows.append(run_summary(mirrored))
                known.add(mirrored["run_id"])
        for folder in started_runs(runs or runs_dir()):  # generating, or stopped before its analysis
            if folder.run_id not in known and not folder.analysis.is_file():
                rows.append(unanalysed(folder))
        stray = [row["run_id"] for row in rows if not is_run_id(str(row["run_id"]))]
        if stray:  # e.g. a folder copied in by hand: the other runs are listed all the same
            log.warning("not audit runs, left out of the list: %s", ", ".join(map(repr, stray)))
        listed = [row for row in rows if is_run_id(str(row["run_id"]))]
        return sorted(listed, key=lambda r: (r["at"], r["run_id"]), reverse=True)

    @app.get("/", response_class=HTMLResponse, name="index")
    def index(request: Request) -> str:
        local = read_runs(warehouse or warehouse_dir())
        rows = all_runs(local)
        for row in rows:
            row["has_report"] = run_folder(row["run_id"]).report.is_file()
            row["has_comparison"] = run_folder(row["run_id"]).comparison_page.is_file()
        mirrored = not local and trends_page(runs or runs_dir()).is_file()
        trends_url = request.url_for("mirrored_trends" if mirrored else "trends")
        return (
            environment()
            .get_template("runs.html.j2")
            .render(
                runs=rows,
                fmt=fmt,
                airflow_run=lambda row: airflow_run_url(request, row),
                trends_url=str(trends_url),
                url=lambda name, **kw: str(request.url_for(name, **kw)),
            )
        )

    @app.get("/api/runs", name="api_runs")
    def api_runs() -> list[dict[str, Any]]:
        # the run's identity, its size and its verdict: the runs table's first columns, and when
        keep = ("at", *RUN_COLUMNS[: RUN_COLUMNS.index("verdict_scope") + 1])
        return [{k: row.get(k) for k in keep} for row in all_runs(read_runs(warehouse or warehouse_dir()))]

    @app.get("/runs/trends.html", name="mirrored_trends")
    def mirrored_trends() -> FileResponse:
        """The trend page as the compute wrote it (Databricks: copied from the runs volume)."""
        return _served(trends_page(runs or runs_dir()), "no trend page has been written yet")

    @app.get("/runs/{run_id}/report.html", name="report", response_model=None)
    def report(run_id: str, request: Request) -> FileResponse | HTMLResponse:
        """The run's report; while there is none (the run is still going, or failed before its
        report task), a page that says so instead of an error."""
        folder = run_folder(run_id)
        if folder.report.is_file():
            return FileResponse(folder.report, media_type="text/html")
        analysed = folder.read_analysis() or next(
            iter(open_tables(warehouse or warehouse_dir()).rows("runs", run_id)), None
        )
        html = (
            environment()
            .get_template("no_report.html.j2")
            .render(
                run_id=run_id,
                verdict=(analysed or {}).get("verdict"),
                started=folder.path.is_dir(),
                runs_url=str(request.url_for("index")),
            )
        )
        return HTMLResponse(html, status_code=404)

    @app.get("/runs/{run_id}/comparison.html", name="comparison")
    def comparison(run_id: str) -> FileResponse:
        """The run against its baseline audit, as the report task wrote it (the report links it)."""
        message = f"audit run {run_id!r} was not compared with a baseline"
        return _served(run_folder(run_id).comparison_page, message)

    @app.get("/compare", response_class=HTMLResponse, name="compare")
    def compare(baseline: str, candidate: str, request: Request) -> str:
        """Any two analysed runs of one suite, compared on the fly (nothing is written)."""
        from bias_audit.compare import compare_audits, render_comparison

        for run_id in (baseline, candidate):
            run_folder(run_id)  # a malformed id is a 404 like any unknown run
        try:
            result = compare_audits(baseline, candidate, warehouse or warehouse_dir())
        except UserInputError as exc:  # said without its source: a server path is not the user's
            raise HTTPException(400, f"{exc.field}: {exc.problem}" if exc.field else exc.problem) from None
        return render_comparison(
            result,
            str(request.url_for("report", run_id=baseline)),
            str(request.url_for("report", run_id=candidate)),
        )

    @app.get("/runs/{run_id}/neighbour/{direction}", name="neighbour", response_model=None)
    def neighbour(run_id: str, direction: str, request: Request) -> RedirectResponse | HTMLResponse:
        """The previous or next audit of the same suite, provider and model (the report links
        both): a redirect to its report, or a page that says there is none."""
        if direction not in ("previous", "next"):
            raise HTTPException(404, f"no {direction!r}: previous or next")
        rows = all_runs(read_runs(warehouse or warehouse_dir()))[::-1]  # oldest first
        this = next((r for r in rows if r["run_id"] == run_id), None)
        if this is None:
            raise HTTPException(404, f"no audit run {run_id!r}")
        same = [r for r in rows if all(r.get(k) == this.get(k) for k in ("suite", "provider", "model"))]
        at = same.index(this) + (1 if direction == "next" else -1)
        if 0 <= at < len(same):
            target = request.url_for("report", run_id=same[at]["run_id"])
            return RedirectResponse(str(target), status_code=307)
        html = (
            environment()
            .get_template("no_report.html.j2")
            .render(
                run_id=run_id,
                verdict=None,
                started=True,
                missing=f"This is the {'latest' if direction == 'next' else 'first'} audit of suite "
                f"{this.get('suite')} with {this.get('provider')} / {this.get('model')}.",
                runs_url=str(request.url_for("index")),
            )
        )
        return HTMLResponse(html, status_code=404)

    @app.get("/runs/{run_id}/{name}", name="plot")
    def plot(run_id: str, name: str) -> FileResponse:
        path = run_folder(run_id).path / name
        if not _PLOT.match(name) or not path.is_file():
            raise HTTPException(404, f"no plot {name!r} for audit run {run_id!r}")
        return FileResponse(path, media_type="image/png")

    @app.get("/trends", response_class=HTMLResponse, name="trends")
    def trends(request: Request) -> str:
        history = trends_of(warehouse or warehouse_dir())
        return render_trends(history, lambda run_id: str(request.url_for("report", run_id=run_id)))

    @app.get("/dag-runs/{run_id:path}", name="dag_run")
    def dag_run(run_id: str, request: Request) -> RedirectResponse:
        """From an Airflow DAG run (its run id, e.g. ``manual__2026-11-29T10:59:26+00:00``) to the
        report of the audit it ran, whose id is the path-safe form of it."""
        return RedirectResponse(str(request.url_for("report", run_id=safe_run_id(run_id))), status_code=307)

    return app


def _served(path: Path, missing: str, media_type: str = "text/html") -> FileResponse:
    """A file of the runs folder, or a 404 that says why it is not there."""
    if not path.is_file():
        raise HTTPException(404, missing)
    return FileResponse(path, media_type=media_type)
