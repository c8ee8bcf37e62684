"""The runtime image is reproducible: every dependency pinned with hashes, installed from them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "runtime.lock"


def pins() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes), from the lock file."""
    entries = re.findall(
        r"^([A-Za-z0-9_.-]+)==(\S+)((?: \\\n    --hash=sha256:[0-9a-f]{64})+)",
        LOCK.read_text(),
        re.M,
    )
    return {canonicalize_name(n): (v, re.findall(r"[0-9a-f]{64}", h)) for n, v, h in entries}


def test_every_runtime_dependency_is_pinned_within_its_range_with_hashes():
    locked = pins()
    requirements = [
        Requirement(r)
        for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ]
    for requirement in [*requirements, Requirement("setuptools>=77")]:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in {LOCK.name}: run `make lock`"
        version, hashes = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} vs {requirement}"
        )
        assert hashes
    requirement_lines = [
        line for line in LOCK.read_text().splitlines() if re.match(r"^[A-Za-z0-9]", line)
    ]
    assert len(requirement_lines) == len(locked), (
        "every line of the lock is an exact pin with hashes"
    )


def test_the_containerfile_installs_the_lock_with_hashes_and_ships_the_pipeline():
    text = (ROOT / "Containerfile").read_text()
    assert "--require-hashes -r requirements/runtime.lock" in text
    assert re.search(r"pip install .*--no-deps .*--no-build-isolation \.", text)
    for folder in ("src", "components", "pipelines"):
        assert f"COPY --chown=1001:0 {folder} {folder}" in text
    base = re.search(r"^FROM (\S+)", text, re.M)[1]
    assert ":" in base.rsplit("/", 1)[1] and not base.endswith(":latest")
