"""The package's architecture (tests/layers.py, docs/development.md): layers, no import cycles."""

from __future__ import annotations

from tests.layers import LAYERS, cycles, import_graph, layer_of, long_units, modules, upward_imports


def test_every_module_belongs_to_a_layer():
    assert [name for name in modules() if name and layer_of(name) is None] == []


def test_no_import_cycle_even_through_imports_inside_functions():
    assert cycles(import_graph()) == []


def test_no_module_imports_a_later_layer():
    assert upward_imports(import_graph()) == []


def test_the_checks_see_a_cycle_and_an_upward_import():
    # the checks themselves: a made-up graph with a cycle through a later layer
    graph = {"stats.metrics": {"report"}, "report": {"stats.metrics"}}
    assert cycles(graph) == [["report", "stats.metrics"]]
    assert upward_imports(graph) == [
        f"stats.metrics (layer {layer_of('stats')}) imports report (layer {layer_of('report')})"
    ]
    assert layer_of("stats") < layer_of("report") < len(LAYERS)


def test_no_function_over_80_lines_and_no_module_over_500_in_include():
    assert long_units() == []
