"""The benchmarks measure on stacks of their own: none changes what the user's stack serves or
publishes."""

from __future__ import annotations

import ast
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == name
    ]


def test_every_local_run_of_a_benchmark_is_on_a_stack_in_a_folder_of_its_own():
    found = 0
    for path in sorted(BENCHMARKS.glob("*.py")):
        tree = ast.parse(path.read_text())
        for call in calls(tree, "run_local"):
            found += 1
            assert any(k.arg == "stack" for k in call.keywords), f"{path.name}: the user's stack"
        for call in calls(tree, "EmbeddedStack"):
            assert call.args or call.keywords, f"{path.name}: EmbeddedStack() is the user's stack"
    assert found, "no benchmark runs the pipeline: this test checks nothing"
