"""The package's layers and what reads them: every import of every module in include/ (imports inside
functions included), the import graph's cycles, and the units too long to read at once.

``LAYERS`` is the architecture of docs/development.md: a module imports only modules of its own
layer or the layers before it, and no two modules import each other, however indirectly."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

INCLUDE = Path(__file__).resolve().parent.parent / "include"
PACKAGE = "bias_audit"

# Lowest first. A name is a module or a package (all its modules).
LAYERS: tuple[tuple[str, ...], ...] = (
    # foundations: errors, where things are, what a record and a run folder are, the metrics' names
    ("errors", "paths", "records", "schedule", "schema", "metric_info", "html", "run_folder"),
    ("tasks",),  # task kinds: each its config, parser, metrics and figures (one module each)
    ("metric_registry", "thresholds"),  # every metric, and the thresholds of those in the verdict
    ("suites",),  # prompt suites: their model and loaders
    ("scoring",),  # what one answer says: features, task parsers
    ("stats",),  # pure statistics: intervals, gaps, verdict, sequential looks, change
    ("calibrate",),  # synthetic audits through stats: error rates and sample sizes
    ("llm",),  # providers: one request, one completion
    ("config", "parameters", "named_files", "run_requests", "plan"),  # what a run asks
    ("own_prompts",),  # a team's prompts made into a suite: the swappers, from-prompts
    ("judge",),  # the LLM judge: grading, its check against labels, its interval
    ("generate",),  # the generation stage
    ("analyze", "tables"),  # the Spark job and the warehouse's tables
    ("catalog", "compare", "trends", "report", "web"),  # the runs, read back and shown
    ("stages",),  # each stage of an audit as one call
    ("cli", "compute", "orchestration"),  # the entry points: CLI, compute backends, Airflow
)
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500


@dataclass(frozen=True)
class Module:
    name: str  # dotted, without the package: "stats.metrics"; the package itself is ""
    path: Path

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


def modules() -> dict[str, Module]:
    found = {}
    for path in sorted((INCLUDE / PACKAGE).rglob("*.py")):
        parts = path.relative_to(INCLUDE / PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = Module(name, path)
    return found


def _imported(module: Module, node: ast.Import | ast.ImportFrom, known: dict[str, Module]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            here = module.name.split(".") if module.name else []
            if not module.is_package:
                here = here[:-1]
            here = here[: len(here) - node.level + 1]
            base = ".".join([PACKAGE, *here, *([base] if base else [])])
        targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
    for target in targets:
        if target != PACKAGE and not target.startswith(PACKAGE + "."):
            continue
        name = target.removeprefix(PACKAGE).removeprefix(".")
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module.name:
            yield name


def import_graph() -> dict[str, set[str]]:
    """Each module's imports of the package's modules, wherever in the module they are."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, module in known.items():
        tree = ast.parse(module.path.read_text(encoding="utf-8"))
        graph[name] = {
            target
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for target in _imported(module, node, known)
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_of(name: str) -> int | None:
    top = name.split(".")[0]
    for number, members in enumerate(LAYERS):
        if top in members:
            return number
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a module in a later layer than the importer's."""
    return [
        f"{name} (layer {layer_of(name)}) imports {target} (layer {layer_of(target)})"
        for name, targets in sorted(graph.items())
        for target in sorted(targets)
        if name and (layer_of(target) or 0) > (layer_of(name) or 0)
    ]


def long_units() -> list[str]:
    """Modules over MAX_MODULE_LINES lines and functions over MAX_FUNCTION_LINES."""
    found = []
    for module in modules().values():
        text = module.path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            found.append(f"module {module.name or PACKAGE}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"function {module.name}.{node.name}: {length} lines")
    return found


if __name__ == "__main__":  # python tests/layers.py: the same findings as tests/test_structure.py
    graph = import_graph()
    for line in [*(" <-> ".join(c) for c in cycles(graph)), *upward_imports(graph), *long_units()]:
        print(line)
