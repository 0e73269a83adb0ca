"""Airflow as docker-compose.yml runs it, without Docker: Debian's PostgreSQL, then Airflow's
api-server, scheduler (LocalExecutor), dag-processor and triggerer as processes of this machine,
with the project's DAG and plugin.

    make airflow                                   # or: .venv/bin/python scripts/native_airflow.py
    .venv/bin/python scripts/native_airflow.py --home var/airflow-native --port 8080

It prints the UI's URL and login and runs until Ctrl-C, then stops every process. State (the
database, logs, the audits) stays in ``--home`` for the next start. The deployment test
(tests/test_deployment.py) starts the same ``Deployment`` in a temporary folder.

PostgreSQL runs as the ``postgres`` user when started by root (it refuses root), on a free port of
127.0.0.1 with its socket in the home folder; Airflow reaches it through psycopg2 (and asyncpg,
which its api-server needs), both in the extra ``postgres``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POSTGRES_BIN = Path(os.environ.get("BIAS_AUDIT_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
COMPONENTS = ("scheduler", "dag-processor", "triggerer")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path:
    """Debian's PostgreSQL binaries (initdb, pg_ctl, createdb); a clear error when missing."""
    candidates = [POSTGRES_BIN, *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]
    for candidate in candidates:
        if (candidate / "initdb").is_file():
            return candidate
    raise SystemExit(
        "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin): "
        "apt-get install postgresql, or set BIAS_AUDIT_POSTGRES_BIN"
    )


class Deployment:
    """PostgreSQL and Airflow's components as local processes, all under ``home``."""

    def __init__(
        self,
        home: Path,
        *,
        port: int | None = None,
        all_admins: bool = False,
        triggerer: bool = True,
        env: Mapping[str, str] | None = None,
    ):
        self.home = Path(home).resolve()
        self.port = port or free_port()
        self.all_admins = all_admins
        self.components = COMPONENTS if triggerer else tuple(c for c in COMPONENTS if c != "triggerer")
        self.extra_env = dict(env or {})
        self.processes: dict[str, subprocess.Popen] = {}
        self.pg_port = free_port()
        self.password = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pgdata(self) -> Path:
        return self.home / "postgres"

    def _as_postgres(self, *command: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)

    def start_postgres(self) -> None:
        bin_dir = postgres_bin()
        socket_dir = self.home / "pg-run"  # the socket and the server's log, owned by postgres
        socket_dir.mkdir(parents=True, exist_ok=True)
        fresh = not (self.pgdata / "PG_VERSION").exists()
        if fresh:
            self.pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            closed = [str(d) for d in self.pgdata.parents if d.exists() and not d.stat().st_mode & 0o001]
            if closed:
                raise SystemExit(
                    f"PostgreSQL runs as the user postgres, who cannot enter {closed[0]}: choose a home "
                    "folder that others may traverse (e.g. under /tmp or the repository)"
                )
            shutil.chown(self.pgdata, "postgres")
            shutil.chown(socket_dir, "postgres")
            self.pgdata.chmod(0o700)
        if fresh:
            subprocess.run(
                self._as_postgres(str(bin_dir / "initdb"), "-D", str(self.pgdata), "-U", "postgres",
                                  "--auth=trust", "--encoding=UTF8"),
                check=True, capture_output=True,
            )  # fmt: skip
        options = f"-p {self.pg_port} -k {socket_dir} -c listen_addresses=127.0.0.1"
        subprocess.run(
            self._as_postgres(str(bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-o", options,
                              "-l", str(socket_dir / "postgres.log"), "-w", "start"),
            check=True, capture_output=True,
        )  # fmt: skip
        exists = subprocess.run(
            [str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", "-tAc",
             "SELECT 1 FROM pg_database WHERE datname = 'airflow'"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        if exists != "1":
            subprocess.run(
                [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres",
                 "airflow"],
                check=True, capture_output=True,
            )  # fmt: skip

    def stop_postgres(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            pg_ctl = str(postgres_bin() / "pg_ctl")
            subprocess.run(
                self._as_postgres(pg_ctl, "-D", str(self.pgdata), "-m", "fast", "stop"), capture_output=True
            )

    def environment(self) -> dict[str, str]:
        """Airflow's settings as docker-compose.yml gives them, pointed at this machine."""
        secret_file = self.home / "jwt-secret"
        if not secret_file.exists():
            secret_file.parent.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(secrets.token_hex(32))
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(self.home / "airflow"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@127.0.0.1:{self.pg_port}/airflow",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API_AUTH__JWT_SECRET": secret_file.read_text().strip(),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "BIAS_AUDIT_HOME": str(self.home / "data"),
            "BIAS_AUDIT_SUITES_DIR": str(self.suites),  # the files DAG params may name
            "PYTHONUNBUFFERED": "1",
        }
        if self.all_admins:
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
        else:
            passwords = self.home / "simple_auth_manager_passwords.json"
            if not passwords.exists():
                passwords.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}))
            self.password = json.loads(passwords.read_text())["admin"]
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = "admin:admin"
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(passwords)
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 180) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.suites.mkdir(parents=True, exist_ok=True)
        self.start_postgres()
        env = self.environment()
        airflow = str(Path(sys.executable).with_name("airflow"))
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        commands = {"api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.port)]}
        commands |= {name: [airflow, name] for name in self.components}
        for name, command in commands.items():
            log = (logs / f"{name}.log").open("ab")
            self.processes[name] = subprocess.Popen(  # cwd: how stop() knows their task processes
                command,
                env=env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_for(f"{self.url}/api/v2/version", timeout)

    def wait_for(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"airflow {name} exited with {process.returncode}; see {self.home}/logs"
                    )
            try:
                with urllib.request.urlopen(url, timeout=5):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
        raise TimeoutError(f"{url} did not answer within {timeout:.0f} s; see {self.home}/logs")

    @property
    def suites(self) -> Path:
        """The folder whose suite and system-prompt files DAG runs may name (BIAS_AUDIT_SUITES_DIR's
        default under BIAS_AUDIT_HOME)."""
        return self.home / "data" / "suites"

    def stop(self) -> None:
        ours = self._task_processes()  # before the components stop: their children are still theirs
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()
        for pid, started in (ours | self._task_processes()).items():
            _kill_if_same(pid, started)
        self.stop_postgres()

    def _task_processes(self) -> dict[int, str]:
        """Every other process of this deployment, by pid (with its start time, so a reused pid is
        left alone). Task processes run in sessions of their own, so stopping the components can
        orphan one (a task of a run marked failed before its supervisor noticed, still generating):
        they are the components' descendants, and every process working in this home folder (an
        orphan's parent is gone; Airflow's setproctitle overwrites the environment /proc shows, so
        the working folder is what tells). Linux: /proc."""
        table: dict[int, tuple[int, str, str]] = {}  # pid -> (parent, start time, working folder)
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                table[int(proc.name)] = (int(fields[1]), fields[19], os.readlink(proc / "cwd"))
            except (OSError, IndexError, ValueError):
                continue
        home, database = str(self.home), str(self.pgdata)  # PostgreSQL stops on its own

        def here(cwd: str) -> bool:
            return (cwd == home or cwd.startswith(home + "/")) and not cwd.startswith(database)

        found = {pid for pid, (_, _, cwd) in table.items() if here(cwd)}
        found |= {process.pid for process in self.processes.values()}
        while grown := {pid for pid, (parent, _, _) in table.items() if parent in found} - found:
            found |= grown
        found.discard(os.getpid())
        return {pid: table[pid][1] for pid in found if pid in table}


def _kill_if_same(pid: int, started: str) -> None:
    try:
        if (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[19] == started:
            os.kill(pid, signal.SIGKILL)
    except (OSError, IndexError):
        pass


def rest(deployment: Deployment, path: str, body: dict | None = None, method: str | None = None) -> dict:
    """One call of the deployment's REST API (v2): JSON in, JSON out (POST with a body, else GET)."""
    request = urllib.request.Request(
        f"{deployment.url}/api/v2/{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method=method or ("GET" if body is None else "POST"),
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=REPO / "var" / "airflow-native")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    deployment = Deployment(args.home, port=args.port)

    def interrupted(signum, frame):  # a SIGTERM (e.g. from a process manager) stops it as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    print(f"starting PostgreSQL and Airflow under {deployment.home} ...", flush=True)
    try:
        deployment.start()
        print(
            f"\nAirflow UI: {deployment.url}   login: admin / {deployment.password}\n"
            f"Bias audits: {deployment.url}/bias-audit/   logs: {deployment.home}/logs\n"
            f"Suite files for the trigger form's suite param go in {deployment.suites}\n"
            "The DAG llm_bias_audit is paused until you unpause it. Ctrl-C stops everything.",
            flush=True,
        )
        while all(p.poll() is None for p in deployment.processes.values()):
            time.sleep(2)
        failed = [name for name, p in deployment.processes.items() if p.poll() is not None]
        print(f"stopped: airflow {', '.join(failed)} exited; see {deployment.home}/logs", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nstopping ...")
    finally:
        # a second Ctrl-C or SIGTERM (a process manager repeating itself) must not cut the stop short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        deployment.stop()


if __name__ == "__main__":
    main()
