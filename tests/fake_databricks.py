"""A local stand-in for a Databricks workspace's REST API, for the real provider hook and operator.

Speaks the versions apache-airflow-providers-databricks 7.23 calls: clusters 2.1 (create, start,
get, delete), jobs 2.2 (runs/submit, runs/get, runs/get-output, runs/cancel) and DBFS 2.0
(create, add-block, close). Bearer-token auth; errors as Databricks sends them
(``{"error_code", "message"}`` with 400/401/404/429/503); state machines as documented:
clusters PENDING → RUNNING, TERMINATING → TERMINATED (or PENDING → TERMINATED with a message when
the start fails); runs PENDING → RUNNING → TERMINATED with SUCCESS / FAILED / CANCELED.

A submitted python_wheel_task really runs: the library wheel (uploaded through DBFS) is unpacked,
its console-script entry point is called in a subprocess with the named parameters as
``--name=value``, and the cluster's spark_env_vars in its environment, secret references
``{{secrets/scope/key}}`` resolved from the fake's secret scopes, and ``/Volumes/...`` paths
mapped to a local folder (``volume_root``), which the Files API (GET /api/2.0/fs/files/...)
serves. Its output becomes the run's get-output ``logs``; a non-zero exit fails the run with the
end of stderr as ``error``.
"""

from __future__ import annotations

import base64
import configparser
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

FILES_API = "/api/2.0/fs/files/"
SECRET_REF = re.compile(r"^\{\{secrets/([^/]+)/([^}]+)\}\}$")
MAX_BLOCK = 1024 * 1024


@dataclass
class Cluster:
    cluster_id: str
    spec: dict[str, Any]
    state: str = "PENDING"
    state_message: str = "Finding instances for new nodes, acquiring more instances if necessary"
    next_state: tuple[float, str, str] | None = None  # (at, state, message)


@dataclass
class Run:
    run_id: int
    task_run_id: int
    payload: dict[str, Any]
    life_cycle_state: str = "PENDING"
    result_state: str | None = None
    state_message: str = ""
    logs: str = ""
    error: str | None = None
    process: subprocess.Popen | None = None


@dataclass
class WorkspaceState:
    token: str = "dapi-test-0123456789abcdef"
    start_seconds: float = 0.3  # PENDING before RUNNING
    stop_seconds: float = 0.2  # TERMINATING before TERMINATED
    fail_start: str | None = None  # a start that fails: PENDING -> TERMINATED with this message
    # Unity Catalog volumes: the local folder that /Volumes/... paths of the Files API read from
    # (the fake cluster is this machine, so what its jobs write under it is "on the volume")
    volume_root: Path | None = None
    secrets: dict[tuple[str, str], str] = field(default_factory=dict)
    faults: deque[int] = field(default_factory=deque)  # statuses to answer the next requests with
    # observations
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status)
    clusters: dict[str, Cluster] = field(default_factory=dict)
    runs: dict[int, Run] = field(default_factory=dict)
    submitted: list[dict[str, Any]] = field(default_factory=list)  # every runs/submit body
    files: dict[str, bytes] = field(default_factory=dict)  # DBFS
    tokens: dict[str, int] = field(default_factory=dict)  # idempotency token -> run id
    handles: dict[int, tuple[str, bytearray]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    counter: int = 1000

    def next_id(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def advance(self, cluster: Cluster) -> None:
        with self.lock:
            if cluster.next_state and time.monotonic() >= cluster.next_state[0]:
                _, cluster.state, cluster.state_message = cluster.next_state
                cluster.next_state = None

    def status_of(self, path: str) -> list[int]:
        return [status for _, p, status in self.requests if p == path]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        state = self.server.state
        url = urlparse(self.path)
        path = url.path
        try:
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")
            with state.lock:
                fault = state.faults.popleft() if state.faults else None
            if fault == 429:
                raise ApiError(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests.", {"Retry-After": "1"})
            if fault:
                raise ApiError(fault, "TEMPORARILY_UNAVAILABLE", "The service is temporarily unavailable.")
            if method == "GET" and path.startswith(FILES_API):
                return self._download(path.removeprefix(FILES_API[:-1]))
            if method == "GET":
                body = {k: v[0] for k, v in parse_qs(url.query).items()}
            else:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
            route = ROUTES.get((method, path))
            if route is None:
                raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")
            self._send(200, route(state, body, self.server))
        except ApiError as exc:
            self._send(exc.status, {"error_code": exc.code, "message": exc.message}, exc.headers)
        with state.lock:
            state.requests.append((method, path, self._status))

    def _download(self, path: str) -> None:
        """Files API: GET /api/2.0/fs/files/<absolute path> answers the file's bytes."""
        state = self.server.state
        root = state.volume_root
        local = (root / path.lstrip("/")).resolve() if root else None
        if local is None or not local.is_relative_to(root.resolve()) or not local.is_file():
            self._send(404, {"error_code": "NOT_FOUND", "message": "The file being accessed is not found."})
        else:
            data = local.read_bytes()
            self._status = 200
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        with state.lock:
            state.requests.append(("GET", path, self._status))

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        self._status = status
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _cluster(state: WorkspaceState, cluster_id: Any) -> Cluster:
    cluster = state.clusters.get(str(cluster_id))
    if cluster is None:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Cluster {cluster_id} does not exist")
    state.advance(cluster)
    return cluster


def clusters_create(state: WorkspaceState, body: dict, server: _Server) -> dict:
    for required in ("spark_version", "node_type_id"):
        if not body.get(required):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Missing required field: {required}")
    if "num_workers" not in body and "autoscale" not in body:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", "Missing required field: num_workers")
    cluster = Cluster(f"{time.strftime('%m%d')}-{state.next_id()}-fake", body)
    missing = [ref for ref in (body.get("spark_env_vars") or {}).values() if _secret(state, ref) is None]
    if state.fail_start or missing:
        message = state.fail_start or f"Invalid spark_env_vars: secret {missing[0]} does not exist"
        cluster.next_state = (time.monotonic() + state.start_seconds, "TERMINATED", message)
    else:
        cluster.next_state = (time.monotonic() + state.start_seconds, "RUNNING", "")
    state.clusters[cluster.cluster_id] = cluster
    return {"cluster_id": cluster.cluster_id}


def clusters_get(state: WorkspaceState, body: dict, server: _Server) -> dict:
    cluster = _cluster(state, body.get("cluster_id"))
    return {
        "cluster_id": cluster.cluster_id,
        "state": cluster.state,
        "state_message": cluster.state_message,
        **{k: v for k, v in cluster.spec.items() if k != "spark_env_vars"},
        "spark_env_vars": {k: v for k, v in (cluster.spec.get("spark_env_vars") or {}).items()},
    }


def clusters_start(state: WorkspaceState, body: dict, server: _Server) -> dict:
    cluster = _cluster(state, body.get("cluster_id"))
    if cluster.state != "TERMINATED":
        raise ApiError(
            400, "INVALID_STATE", f"Cluster {cluster.cluster_id} is in unexpected state {cluster.state}."
        )
    cluster.state, cluster.state_message = "PENDING", "Starting Spark"
    cluster.next_state = (time.monotonic() + state.start_seconds, "RUNNING", "")
    return {}


def clusters_delete(state: WorkspaceState, body: dict, server: _Server) -> dict:
    cluster = _cluster(state, body.get("cluster_id"))
    if cluster.state not in ("TERMINATED", "TERMINATING"):
        cluster.state, cluster.state_message = "TERMINATING", "Terminating the cluster"
        cluster.next_state = (time.monotonic() + state.stop_seconds, "TERMINATED", "Terminated by user")
    return {}


def dbfs_create(state: WorkspaceState, body: dict, server: _Server) -> dict:
    path = body.get("path", "")
    if not path.startswith("/"):
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Path must be absolute: {path}")
    if path in state.files and not body.get("overwrite"):
        raise ApiError(
            400, "RESOURCE_ALREADY_EXISTS", f"A file or directory already exists at the input path {path}."
        )
    handle = state.next_id()
    state.handles[handle] = (path, bytearray())
    return {"handle": handle}


def dbfs_add_block(state: WorkspaceState, body: dict, server: _Server) -> dict:
    if body.get("handle") not in state.handles:
        raise ApiError(400, "RESOURCE_DOES_NOT_EXIST", f"Handle {body.get('handle')} does not exist")
    data = base64.b64decode(body.get("data", ""))
    if len(data) > MAX_BLOCK:
        raise ApiError(400, "MAX_BLOCK_SIZE_EXCEEDED", "The block exceeds the maximum block size of 1 MB.")
    state.handles[body["handle"]][1].extend(data)
    return {}


def dbfs_close(state: WorkspaceState, body: dict, server: _Server) -> dict:
    if body.get("handle") not in state.handles:
        raise ApiError(400, "RESOURCE_DOES_NOT_EXIST", f"Handle {body.get('handle')} does not exist")
    path, data = state.handles.pop(body["handle"])
    state.files["dbfs:" + path] = bytes(data)
    return {}


def runs_submit(state: WorkspaceState, body: dict, server: _Server) -> dict:
    with state.lock:
        state.submitted.append(body)
        token = body.get("idempotency_token")
        if token and token in state.tokens:
            return {"run_id": state.tokens[token]}
        if token and len(token) > 64:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "idempotency_token must be at most 64 characters")
        if "python_wheel_task" not in body:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "this fake runs python_wheel_task only")
        _cluster(state, body.get("existing_cluster_id"))
        run = Run(state.next_id(), state.next_id(), body)
        state.runs[run.run_id] = run
        if token:
            state.tokens[token] = run.run_id
    threading.Thread(target=_execute, args=(state, run), daemon=True).start()
    return {"run_id": run.run_id}


def _run_json(state: WorkspaceState, run: Run, base: str) -> dict:
    run_state = {"life_cycle_state": run.life_cycle_state, "state_message": run.state_message}
    if run.result_state:
        run_state["result_state"] = run.result_state
    return {
        "run_id": run.run_id,
        "run_name": run.payload.get("run_name"),
        "state": run_state,
        "run_page_url": f"{base}/?o=0#job/runs/{run.run_id}",
        "cluster_instance": {"cluster_id": run.payload.get("existing_cluster_id")},
        "tasks": [{"run_id": run.task_run_id, "task_key": "python_wheel_task", "state": run_state}],
    }


def runs_get(state: WorkspaceState, body: dict, server: _Server) -> dict:
    run = state.runs.get(int(body.get("run_id", 0)))
    if run is None:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Run {body.get('run_id')} does not exist.")
    return _run_json(state, run, server.base_url)


def runs_get_output(state: WorkspaceState, body: dict, server: _Server) -> dict:
    wanted = int(body.get("run_id", 0))
    run = next((r for r in state.runs.values() if r.task_run_id == wanted), None)
    if run is None:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Run {wanted} does not exist.")
    output: dict[str, Any] = {
        "metadata": _run_json(state, run, server.base_url),
        "logs": run.logs[-5_000_000:],
    }
    output["logs_truncated"] = len(run.logs) > 5_000_000
    if run.error:
        output["error"] = run.error
    return output


def runs_cancel(state: WorkspaceState, body: dict, server: _Server) -> dict:
    run = state.runs.get(int(body.get("run_id", 0)))
    if run is None:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Run {body.get('run_id')} does not exist.")
    if run.process and run.process.poll() is None:
        run.process.kill()
    if run.life_cycle_state in ("PENDING", "RUNNING"):
        run.life_cycle_state, run.result_state, run.state_message = "TERMINATED", "CANCELED", "Run cancelled."
    return {}


ROUTES = {
    ("POST", "/api/2.1/clusters/create"): clusters_create,
    ("GET", "/api/2.1/clusters/get"): clusters_get,
    ("POST", "/api/2.1/clusters/start"): clusters_start,
    ("POST", "/api/2.1/clusters/delete"): clusters_delete,
    ("POST", "/api/2.0/dbfs/create"): dbfs_create,
    ("POST", "/api/2.0/dbfs/add-block"): dbfs_add_block,
    ("POST", "/api/2.0/dbfs/close"): dbfs_close,
    ("POST", "/api/2.2/jobs/runs/submit"): runs_submit,
    ("GET", "/api/2.2/jobs/runs/get"): runs_get,
    ("GET", "/api/2.2/jobs/runs/get-output"): runs_get_output,
    ("POST", "/api/2.2/jobs/runs/cancel"): runs_cancel,
}


def _secret(state: WorkspaceState, value: str) -> str | None:
    match = SECRET_REF.match(str(value))
    if not match:
        return str(value)
    return state.secrets.get((match.group(1), match.group(2)))


def _fail(run: Run, message: str, error: str | None = None) -> None:
    run.life_cycle_state, run.result_state, run.state_message = "TERMINATED", "FAILED", message
    run.error = error or message


def _execute(state: WorkspaceState, run: Run) -> None:
    """Run the wheel task as a Databricks cluster would: wait for the cluster, install the library,
    call the entry point with the named parameters, record the output."""
    cluster = state.clusters[str(run.payload["existing_cluster_id"])]
    while True:
        state.advance(cluster)
        if cluster.state == "RUNNING":
            break
        if cluster.state in ("TERMINATED", "TERMINATING", "ERROR"):
            return _fail(
                run, f"Cluster {cluster.cluster_id} is in state {cluster.state}: {cluster.state_message}"
            )
        time.sleep(0.05)
    wheels = [lib["whl"] for lib in run.payload.get("libraries", []) if "whl" in lib]
    task = run.payload["python_wheel_task"]
    with tempfile.TemporaryDirectory(prefix="fake-dbx-lib-") as lib_dir:
        for whl in wheels:
            if whl not in state.files:
                return _fail(
                    run, f"Library installation failed for library due to user error. Error: {whl} not found"
                )
            path = Path(lib_dir) / Path(whl).name
            path.write_bytes(state.files[whl])
            zipfile.ZipFile(path).extractall(lib_dir)
        target = _entry_point(Path(lib_dir), task["entry_point"])
        if target is None or not (Path(lib_dir) / task["package_name"]).is_dir():
            return _fail(
                run, f"Could not find entry point {task['entry_point']} of package {task['package_name']}"
            )
        module, _, function = target.partition(":")
        env = {**os.environ, "PYTHONPATH": lib_dir}
        for name, value in (cluster.spec.get("spark_env_vars") or {}).items():
            env[name] = _secret(state, value) or ""
        parameters = task.get("named_parameters") or {}
        arguments = [f"--{name}={_on_volume(state, value)}" for name, value in parameters.items()]
        entry = task["entry_point"]
        code = f"import sys; from {module} import {function} as f; sys.argv[0] = {entry!r}; sys.exit(f())"
        run.life_cycle_state, run.state_message = "RUNNING", "In run"
        run.process = subprocess.Popen(
            [sys.executable, "-c", code, *arguments],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stdout, stderr = run.process.communicate()
    run.logs = stdout + stderr
    if run.result_state == "CANCELED":
        return None
    if run.process.returncode == 0:
        run.life_cycle_state, run.result_state, run.state_message = "TERMINATED", "SUCCESS", ""
        return None
    return _fail(run, "Workload failed, see run output for details", stderr.strip()[-2000:] or "exit code")


def _on_volume(state: WorkspaceState, value: str) -> str:
    """A cluster sees Unity Catalog volumes as files under /Volumes (a FUSE mount); here, under
    volume_root."""
    if state.volume_root and str(value).startswith("/Volumes/"):
        return str(state.volume_root / str(value).lstrip("/"))
    return str(value)


def _entry_point(lib_dir: Path, name: str) -> str | None:
    for entry_points in lib_dir.glob("*.dist-info/entry_points.txt"):
        parser = configparser.ConfigParser()
        parser.read(entry_points)
        if parser.has_option("console_scripts", name):
            return parser.get("console_scripts", name)
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: WorkspaceState):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.base_url = f"http://127.0.0.1:{self.server_address[1]}"


class FakeDatabricks:
    def __init__(self, state: WorkspaceState | None = None):
        self.state = state or WorkspaceState()
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def connection(self) -> dict[str, Any]:
        """The Airflow connection (as AIRFLOW_CONN_DATABRICKS_DEFAULT JSON) for this workspace."""
        return {
            "conn_type": "databricks",
            "host": "127.0.0.1",
            "port": self.port,
            "schema": "http",
            "password": self.state.token,
        }

    def __enter__(self) -> FakeDatabricks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for run in self.state.runs.values():
            if run.process and run.process.poll() is None:
                run.process.kill()
        self._server.shutdown()
        self._server.server_close()
