"""kfp.local and a dsl.If on a named output: skipped without the work-around, run with it."""
# No `from __future__ import annotations`: KFP reads the components' annotations as types.

from typing import NamedTuple

import pytest
from kfp import dsl, local

from llama_rollout.local_conditions import named_output_conditions

pytestmark = pytest.mark.integration


@dsl.component(base_image="python:3.11")
def decide(go: bool) -> NamedTuple("Decision", changed=bool, reason=str):
    from collections import namedtuple

    return namedtuple("Decision", ["changed", "reason"])(go, "because")


@dsl.component(base_image="python:3.11")
def branch() -> str:
    return "ran"


@dsl.pipeline
def gated(go: bool) -> str:
    decided = decide(go=go)
    with dsl.If(decided.outputs["changed"] == True):  # noqa: E712
        branch()
    return decided.outputs["reason"]


def ran_branch(tmp_path, go: bool, *, fixed: bool) -> bool:
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))
    if fixed:
        with named_output_conditions():
            gated(go=go)
    else:
        gated(go=go)
    return any(p.name == "branch" for p in tmp_path.glob("gated-*/*"))


def test_the_branch_runs_when_the_named_output_says_so(tmp_path):
    assert not ran_branch(tmp_path / "plain", True, fixed=False), "kfp.local fixed it upstream"
    assert ran_branch(tmp_path / "fixed", True, fixed=True)
    assert not ran_branch(tmp_path / "false", False, fixed=True)
