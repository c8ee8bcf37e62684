"""The README's parameter table is the pipeline's: every parameter, its default, a description."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

from pipelines.rollout import rollout_pipeline

README = Path(__file__).resolve().parents[2] / "README.md"


def table() -> dict[str, str]:
    section = README.read_text().split("## Parameters", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_0-9]+)` \| (.+?) \| (.+) \|$", section, re.M)
    assert all(len(description) > 10 for _, _, description in rows)
    return {name: default for name, default, _ in rows}


def test_every_parameter_is_in_the_readme_with_its_default():
    documented = table()
    signature = inspect.signature(rollout_pipeline.pipeline_func).parameters
    assert list(documented) == list(signature)
    for name, parameter in signature.items():
        default = parameter.default
        shown = (f"`{default}`" if default else "(empty)") if isinstance(default, str) else (
            f"`{json.dumps(default)}`")  # fmt: skip
        assert documented[name] == shown, name
