"""The wheel carries everything compile and the steps need: components/, pipelines/, data."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (built,) = out.glob("llama_rollout-*.whl")
    return built


def test_the_wheel_has_the_pipeline_the_components_and_the_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "pipelines/rollout.py",
        "pipelines/compile.py",
        "components/__init__.py",
        "components/deploy_llama_stack.py",
        "llama_rollout/embedded/model-registry-openapi.yaml",
        "llama_rollout/embedded/templates/smollm2_tool_chat.jinja",
        "llama_rollout/mcp_server/snapshots/demo-cluster.yaml",
    ):
        assert required in names, required
    assert not any(n.startswith("tests/") for n in names)


def test_compile_works_from_the_installed_package_without_the_checkout(wheel, tmp_path):
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    out = tmp_path / "compiled.yaml"
    # -I: no current folder, PYTHONPATH or user site on sys.path; the unpacked wheel comes
    # before this environment's editable install of the checkout.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import pipelines, components, llama_rollout;"
        "assert all(m.__file__.startswith(sys.argv[1]) for m in (pipelines, components, llama_rollout)), "
        "[m.__file__ for m in (pipelines, components, llama_rollout)];"
        "from pipelines.compile import compile_pipeline; from pathlib import Path;"
        "compile_pipeline(Path(sys.argv[2]))"
    )
    subprocess.run(
        [sys.executable, "-I", "-c", code, str(unpacked), str(out)],
        check=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.read_text() == (ROOT / "pipelines" / "llama-rollout.yaml").read_text()
