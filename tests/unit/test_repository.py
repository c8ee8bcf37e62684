"""The repository itself: what a fresh clone gets is complete, self-contained and honest."""

from __future__ import annotations

import ast
import hashlib
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-s", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [entry for entry in out.split("\0") if entry]


def test_no_tracked_file_is_a_symlink_or_points_outside_the_repository():
    links = [entry.split("\t", 1)[1] for entry in tracked_files() if entry.startswith("120000 ")]
    assert links == [], f"tracked symlinks point nowhere on a fresh clone: {links}"
    escaping = []
    for entry in tracked_files():
        path = ROOT / entry.split("\t", 1)[1]
        if path.is_symlink() or not path.resolve().is_relative_to(ROOT):
            escaping.append(str(path))
    assert escaping == []


@pytest.mark.parametrize("folder", [".venv", ".venv-vllm", ".venv-llama-stack"])
def test_the_environments_make_creates_are_ignored_as_files_and_as_folders(folder, tmp_path):
    # A trailing slash in .gitignore matches folders only: a symlink of that name is a file.
    for candidate in (folder, f"{folder}/bin/python"):
        result = subprocess.run(
            ["git", "check-ignore", "--no-index", "-q", candidate], cwd=ROOT, check=False
        )
        assert result.returncode == 0, f"{candidate} is not ignored"


def test_nothing_reads_files_outside_the_repository():
    # The steering folder beside a checkout, which a user's clone does not have. The name is
    # put together here so that this file does not itself look like a reader of it.
    shared = "sha" + "red"
    pattern = re.compile(rf"\.\./{shared}|[\"']{shared}[\"']")
    offenders = []
    for folder in ("src", "components", "pipelines", "tests", ".ci", "benchmarks"):
        for path in (ROOT / folder).rglob("*"):
            readable = path.suffix in (".py", ".sh", "") and path.is_file()
            if readable and path != Path(__file__) and pattern.search(path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    makefile = (ROOT / "Makefile").read_text()
    assert f"../{shared}" not in makefile
    assert offenders == []


def recorded_digests() -> dict[str, str]:
    rows = re.findall(
        r"^\| `([^`]+)` \|[^|]+\| `([0-9a-f]{64})` \|$", (DATA / "README.md").read_text(), re.M
    )
    return dict(rows)


def test_every_schema_in_tests_data_is_listed_with_its_source_and_unchanged():
    recorded = recorded_digests()
    present = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*.yaml"))
    assert present and sorted(recorded) == present
    for name, digest in recorded.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


def test_the_shipped_olsconfig_crd_is_the_recorded_one():
    shipped = ROOT / "src" / "llama_rollout" / "embedded" / "ols.openshift.io_olsconfigs.yaml"
    assert shipped.read_bytes() == (DATA / "crds" / "ols.openshift.io_olsconfigs.yaml").read_bytes()


def test_no_test_can_skip():
    # Spelled in pieces, so that this file does not itself look like a test that skips.
    markers = [
        r"\.skip\(",
        r"\.importor" + "skip",
        r"\.mark\.skip" + "if",
        r"\.mark\.skip\b",
        r"\.mark\.xfail",
    ]
    skip = re.compile("|".join("pytest" + m for m in markers))
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").rglob("*.py")
        if p != Path(__file__) and skip.search(p.read_text())
    ]
    assert offenders == []


def test_each_library_module_has_one_concern_of_at_most_400_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for path in (ROOT / "src" / "llama_rollout").rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 400
    }
    assert long == {}, "split these along their seams"


def test_the_package_imports_its_own_modules_at_the_top():
    """An import of the project's own module inside a function hides a cycle; the CLI's
    commands alone import lazily, so that --help does not load kfp and the clients."""
    lazy = {ROOT / "src" / "llama_rollout" / "cli" / "commands.py"}
    inside = []
    for path in (ROOT / "src" / "llama_rollout").rglob("*.py"):
        if path in lazy:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                inside += [
                    f"{path.relative_to(ROOT)}:{inner.lineno}"
                    for inner in ast.walk(node)
                    if isinstance(inner, ast.ImportFrom)
                    and (inner.module or "").startswith("llama_rollout")
                ]
    assert inside == []
