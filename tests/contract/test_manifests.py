"""The kustomize bases in manifests/ are valid Kubernetes objects."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def test_pipeline_runner_role_covers_what_the_serving_step_does():
    folder = MANIFESTS / "pipeline-runner"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    objects = [yaml.safe_load((folder / name).read_text()) for name in kustomization["resources"]]
    role = next(o for o in objects if o["kind"] == "Role")
    binding = next(o for o in objects if o["kind"] == "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    needed = [
        ("serving.kserve.io", "inferenceservices", "patch"),  # server-side apply
        ("serving.kserve.io", "servingruntimes", "patch"),
        ("serving.kserve.io", "inferenceservices", "get"),
        ("", "pods", "list"),
        ("", "pods/log", "get"),
        ("", "namespaces", "get"),
    ]
    assert [n for n in needed if n not in granted] == []
    assert not any(resource == "secrets" for _, resource, _ in granted)


@pytest.mark.parametrize("path", sorted(MANIFESTS.rglob("*.yaml")), ids=lambda p: p.name)
def test_yaml_parses_with_kind_and_api_version(path):
    for doc in yaml.safe_load_all(path.read_text()):
        assert doc["apiVersion"] and doc["kind"]
