"""The README's parameter table is the pipeline's: every parameter, its default, a description."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

from llama_rollout.parameters import pipeline_parameters
from pipelines.rollout import rollout_pipeline

README = Path(__file__).resolve().parents[2] / "README.md"


def rows() -> list[tuple[str, str, str]]:
    section = README.read_text().split("## Parameters", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_0-9]+)` \| (.+?) \| (.+) \|$", section, re.M)


def table() -> dict[str, str]:
    return {name: default for name, default, _ in rows()}


def test_each_parameter_is_described_in_the_readme_as_its_request_declares_it():
    declared = pipeline_parameters()
    for name, _, description in rows():
        expected = " ".join(declared[name].description.replace("``", "`").split())
        assert description == expected, name


def test_every_parameter_is_in_the_readme_with_its_default():
    documented = table()
    signature = inspect.signature(rollout_pipeline.pipeline_func).parameters
    assert list(documented) == list(signature)
    for name, parameter in signature.items():
        default = parameter.default
        shown = (f"`{default}`" if default else "(empty)") if isinstance(default, str) else (
            f"`{json.dumps(default)}`")  # fmt: skip
        assert documented[name] == shown, name
