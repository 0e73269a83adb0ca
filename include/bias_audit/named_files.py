"""Files that a run's parameters name: a suite file, a file holding the system prompt.

Who gives the parameter decides what it may read. On the command line the user reads their own
files, so any readable path is taken. A DAG run's params come from whoever may trigger the DAG,
and its tasks run on a worker that holds connections, logs and the deployment's environment, so a
DAG param may name only files under the one folder the deployment gives them,
``$BIAS_AUDIT_SUITES_DIR`` (default ``$BIAS_AUDIT_HOME/suites``): otherwise
``system_prompt=/proc/self/environ`` would send the worker's environment to the model and record
it in run.json and the tables (docs/airflow.md, "Security").

No Airflow here: the DAG's side calls ``dag_suite`` and ``dag_text_or_file``
(orchestration/params.py), the CLI ``text_or_file``.
"""

from __future__ import annotations

import os
from pathlib import Path

from bias_audit.errors import UserInputError
from bias_audit.paths import data_home
from bias_audit.suites.loader import builtin_suite_names

SUITES_DIR_ENV = "BIAS_AUDIT_SUITES_DIR"
_MAX_PATH = 4096  # a longer value, or one of several lines, is text, never a path


def dag_files_dir() -> Path:
    """The folder whose files a DAG run's params may name."""
    return Path(os.environ.get(SUITES_DIR_ENV) or data_home() / "suites").expanduser()


def _existing_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # unreadable parent, name too long ...: not a file this run can use
        return False


def _could_be_path(value: str) -> bool:
    return bool(value) and "\n" not in value and len(value) < _MAX_PATH and "\0" not in value


def text_or_file(value: str | None) -> str | None:
    """The command line's rule: a readable file's path stands for the file's text."""
    if value and _could_be_path(value) and _existing_file(path := Path(value).expanduser()):
        return path.read_text(encoding="utf-8").strip()
    return value


def _resolved(value: str, root: Path) -> Path | None:
    """``value`` as a path, a relative one taken from ``root``, with ``..`` and symbolic links
    followed: resolve() follows the links of what exists and normalises the rest, so a path the
    worker cannot see (a Databricks volume's) is still checked by its components. None for what
    is no path (a NUL byte, a loop of links)."""
    try:
        path = Path(value).expanduser()
        return (path if path.is_absolute() else root.resolve() / path).resolve()
    except (OSError, RuntimeError, ValueError):
        return None


def _inside(path: Path | None, root: Path) -> bool:
    return path is not None and path.is_relative_to(root.resolve())


def dag_text_or_file(value: str | None, field: str = "system_prompt") -> str | None:
    """A DAG param that is text or a file's path: a file under ``dag_files_dir()`` is read; a value
    that names an existing file anywhere else is refused (not read, not sent, not recorded); any
    other value is the text itself."""
    if not value or not _could_be_path(value):
        return value
    root = dag_files_dir()
    path = _resolved(value, root)
    if path is None or not _existing_file(path):
        return value
    if _inside(path, root):
        return path.read_text(encoding="utf-8").strip()
    raise UserInputError(
        f"names a file outside the folder DAG runs may read ({root}, set by {SUITES_DIR_ENV}); "
        "give the text itself, or put the file in that folder",
        field=field,
    )


def dag_suite(value: str) -> str:
    """A DAG run's suite: a built-in suite's name, or a suite file under ``dag_files_dir()`` (a
    relative path is taken from there); the file's path, resolved. Anything else is refused before
    it is opened."""
    if value in builtin_suite_names():
        return value
    root = dag_files_dir()
    path = _resolved(value, root)
    if not _inside(path, root):
        raise UserInputError(
            f"is neither a built-in suite ({', '.join(builtin_suite_names())}) nor a suite file in the "
            f"folder DAG runs may read ({root}, set by {SUITES_DIR_ENV}) (value: {value!r})",
            field="suite",
        )
    if path is None or path.suffix not in (".yaml", ".yml"):
        raise UserInputError(
            f"unknown suite {value!r}: built-in suites are {', '.join(builtin_suite_names())}, or give "
            f"a .yaml file in {root}",
            field="suite",
        )
    return str(path)
