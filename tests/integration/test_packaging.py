"""The wheel is the product: installed alone, with the locked dependencies, it compiles the
pipeline, as the runtime image does."""

from __future__ import annotations

import subprocess
import sys
import venv
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


def test_installed_from_the_lock_and_the_wheel_alone_compile_writes_the_committed_yaml(
    wheel, tmp_path
):
    # As the Containerfile installs it: the locked dependencies with their hashes, then the
    # project without dependencies; nothing of the checkout on the path.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    lock = ROOT / "requirements" / "runtime.lock"
    for args in (
        ["--no-deps", "--require-hashes", "-r", str(lock)],
        ["--no-deps", str(wheel)],
    ):
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
            check=True, capture_output=True, timeout=900,
        )  # fmt: skip
    out = tmp_path / "compiled.yaml"
    result = subprocess.run(
        [str(env_dir / "bin" / "llama-rollout"), "compile", "--output", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.read_text() == (ROOT / "pipelines" / "llama-rollout.yaml").read_text()
