"""The kustomize bases in manifests/ are valid Kubernetes objects."""

from __future__ import annotations

import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests import openshift_schema

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


OBJECTS = [p for p in sorted(MANIFESTS.rglob("*.yaml")) if p.name != "kustomization.yaml"]


def validate(doc: dict) -> None:
    if (doc["apiVersion"], doc["kind"]) in openshift_schema.SCHEMAS:
        openshift_schema.validate(doc)
    else:
        kubernetes_validate.validate(doc, "1.31.0", strict=True)


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_objects_validate_against_the_kubernetes_schemas(path):
    for doc in yaml.safe_load_all(path.read_text()):
        validate(doc)


@pytest.mark.parametrize(
    ("name", "mutate"),
    [
        ("imagestream.yaml", lambda o: o["spec"]["lookupPolicy"].update(lokal=True)),
        ("imagestream.yaml", lambda o: o["spec"]["lookupPolicy"].pop("local")),
        ("buildconfig.yaml", lambda o: o["spec"]["strategy"].update(type="Podman")),
        ("buildconfig.yaml", lambda o: o["spec"]["strategy"]["dockerStrategy"].update(file="X")),
    ],
)
def test_the_openshift_schemas_refuse_what_the_api_server_refuses(name, mutate):
    obj = yaml.safe_load((MANIFESTS / "runtime-image" / name).read_text())
    mutate(obj)
    with pytest.raises(jsonschema.ValidationError):
        validate(obj)


@pytest.mark.parametrize("folder", sorted({p.parent for p in OBJECTS}), ids=lambda p: p.name)
def test_kustomizations_list_every_object(folder):
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in folder.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_mcp_server_role_is_read_only_and_has_no_secrets():
    role = yaml.safe_load((MANIFESTS / "mcp-server" / "clusterrole.yaml").read_text())
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert verbs <= {"get", "list", "watch"}
    assert not resources & {"secrets", "configmaps"}
    deployment = yaml.safe_load((MANIFESTS / "mcp-server" / "deployment.yaml").read_text())
    command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    assert (
        command[command.index("--host") + 1] == "0.0.0.0"
        and command[command.index("--port") + 1] == "3000"
    )


def test_the_sample_data_connection_is_what_the_serving_step_requires():
    from llama_rollout.weights.connection import ENV_KEYS, connection_secret_fixes

    kustomization = yaml.safe_load(
        (MANIFESTS / "data-connection" / "kustomization.yaml").read_text()
    )
    (generator,) = kustomization["secretGenerator"]
    options = generator["options"]
    assert options["disableNameSuffixHash"] is True  # the pipeline names it: no hash suffix
    metadata = {"labels": options["labels"], "annotations": options["annotations"]}
    assert connection_secret_fixes(generator["name"], "ai", metadata) == []
    example = (MANIFESTS / "data-connection" / "connection.env.example").read_text()
    keys = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert keys == set(ENV_KEYS.values())
    assert "connection.env" in generator["envs"]
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "manifests/data-connection/connection.env"],
        cwd=MANIFESTS.parent, check=False,
    )  # fmt: skip
    assert ignored.returncode == 0, "the filled-in connection.env must never be committed"
