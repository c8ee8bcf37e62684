"""BFCL's questions and possible answers, read as data from the pinned ``bfcl-eval`` wheel.

The package is not installed: it pins numpy, tree_sitter and a dozen vendor SDKs. Its files
are read from the wheel (a zip), and the function schemas are turned into the JSON schemas
BFCL itself offers a function-calling model.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BFCL_VERSION = "2026.3.23"
BFCL_SHA256 = "3bb6dfa5f0c68ad403c9ec50b00db2bb3b4cc9b38ab1ff33f48fe30d853d3a0a"
# The categories BFCL judges by the AST of single-turn calls (its name: the file's). Java and
# JavaScript are left out: their values are source text that BFCL's type converters read, which
# a JSON call never is; multi-turn, memory and web search are judged by executing the calls.
CATEGORIES = {
    "simple": "simple_python",
    "multiple": "multiple",
    "parallel": "parallel",
    "parallel_multiple": "parallel_multiple",
    "live_simple": "live_simple",
    "live_multiple": "live_multiple",
    "live_parallel": "live_parallel",
    "live_parallel_multiple": "live_parallel_multiple",
    "irrelevance": "irrelevance",
    "live_irrelevance": "live_irrelevance",
}
_CREDENTIALS = re.compile(r"//[^/@\s]+@")
# pip's --timeout bounds each connect and read, --retries their number, and the subprocess's
# timeout the whole download.
_DOWNLOAD = "-m pip download --no-deps --only-binary=:all: --require-hashes --quiet"
_DOWNLOAD += " --timeout 30 --retries 2"


@dataclass(frozen=True)
class Case:
    id: str
    functions: list[dict[str, Any]]  # as BFCL writes them, with its own type names
    tools: list[dict[str, Any]]  # as BFCL offers them to a function-calling model
    expected: list[dict[str, dict[str, list[Any]]]]  # BFCL's possible answer
    any_order: bool  # BFCL's parallel_function_checker_no_order

    def function(self, name: str) -> dict[str, Any]:
        return next(f for f in self.functions if f["name"] == name)


def download_wheel(folder: Path) -> Path:
    """The pinned wheel, through pip (its index settings and proxies), its hash checked."""
    wanted = folder / "requirements.txt"
    wanted.write_text(f"bfcl-eval=={BFCL_VERSION} --hash=sha256:{BFCL_SHA256}\n")
    command = [sys.executable, *_DOWNLOAD.split(), "-r", str(wanted), "-d", str(folder)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("pip took over 300 s to download bfcl-eval: check PyPI or PIP_INDEX_URL")
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.fail(
            f"pip could not download bfcl-eval=={BFCL_VERSION} ({_CREDENTIALS.sub('//', last)}):"
            " this test reads BFCL's data from PyPI, or from a mirror set in PIP_INDEX_URL"
        )
    return next(folder.glob("bfcl_eval-*.whl"))


def read_cases(wheel_path: Path) -> dict[str, list[Case]]:
    """Each category's cases: the question's functions and the possible answer, by id."""
    with zipfile.ZipFile(wheel_path) as wheel:

        def lines(path: str) -> list[dict[str, Any]]:
            text = wheel.read(f"bfcl_eval/{path}").decode()
            return [json.loads(line) for line in text.splitlines() if line.strip()]

        mapping = _gorilla_to_openapi(wheel.read("bfcl_eval/constants/type_mappings.py").decode())
        cases = {}
        for category, name in CATEGORIES.items():
            answers = {}
            if "irrelevance" not in category:
                answers = {
                    a["id"]: a["ground_truth"]
                    for a in lines(f"data/possible_answer/BFCL_v4_{name}.json")
                }
            cases[category] = [
                Case(
                    q["id"],
                    q["function"],
                    [_tool(f, mapping) for f in q["function"]],
                    answers.get(q["id"], []),
                    "parallel" in category,
                )
                for q in lines(f"data/BFCL_v4_{name}.json")
            ]
    return cases


def _gorilla_to_openapi(source: str) -> dict[str, str]:
    """BFCL's own table of its type names to JSON schema's, read as data, not imported."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "GORILLA_TO_OPENAPI":
            return ast.literal_eval(node.value)
    raise AssertionError("bfcl_eval/constants/type_mappings.py has no GORILLA_TO_OPENAPI")


def _tool(function: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """``convert_to_tool`` and ``_cast_to_openai_type`` of ``bfcl_eval/model_handler/utils.py``.
    The dotted names stay: BFCL turns dots into underscores on both sides, or on neither."""
    parameters = copy.deepcopy(function["parameters"])
    parameters["type"] = "object"
    _cast(parameters["properties"], mapping)
    return {"name": function["name"], "parameters": parameters}


def _cast(properties: dict[str, Any], mapping: dict[str, str]) -> None:
    for schema in properties.values():
        schema["type"] = mapping.get(schema.get("type", "string"), "string")
        if schema["type"] in ("array", "object") and "properties" in schema:
            _cast(schema["properties"], mapping)
        elif schema["type"] in ("array", "object") and "items" in schema:
            items = schema["items"]
            items["type"] = mapping[items["type"]]
            if items["type"] == "array" and "items" in items:
                items["items"]["type"] = mapping[items["items"]["type"]]
            elif items["type"] == "object" and "properties" in items:
                _cast(items["properties"], mapping)
