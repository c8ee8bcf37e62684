"""The components are thin: stdlib and kfp at the top, one step call inside, no target branch."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from llama_rollout.errors import ConfigurationError
from llama_rollout.targets import Target

COMPONENTS = sorted((Path(__file__).resolve().parents[2] / "components").glob("[!_]*.py"))


@pytest.mark.parametrize("path", COMPONENTS, ids=lambda p: p.stem)
def test_a_component_imports_only_the_standard_library_and_kfp_at_the_top(path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            top = (module or "").split(".")[0]
            assert top in sys.stdlib_module_names or top in ("kfp", "components", "__future__"), (
                module
            )


@pytest.mark.parametrize("path", COMPONENTS, ids=lambda p: p.stem)
def test_a_component_has_no_target_branch(path):
    tree = ast.parse(path.read_text())
    (function,) = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    for node in ast.walk(function):
        if isinstance(node, ast.If | ast.IfExp):
            assert "target" not in ast.unparse(node.test), ast.unparse(node.test)
    assert len(function.body) < 25, "parse the parameters, call the step, return its outputs"


def test_an_unknown_target_is_named_with_the_choices():
    assert Target.parse("local") is Target.LOCAL
    with pytest.raises(
        ConfigurationError, match="unknown target 'laptop': use one of openshift, local"
    ):
        Target.parse("laptop")
