"""The compiled pipeline: in sync with the source, ASCII, wired as designed, no secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from kfp import compiler

from pipelines.rollout import DATA_CONNECTION_KEYS, rollout_pipeline
from tests.unit.pipeline_structure import structure

ROOT = Path(__file__).resolve().parents[2]
COMPILED = ROOT / "pipelines" / "llama-rollout.yaml"


def compile_to(tmp_path: Path) -> str:
    out = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(rollout_pipeline, str(out))
    return out.read_text()


def test_committed_yaml_is_in_sync_with_the_source(tmp_path):
    assert COMPILED.read_text() == compile_to(tmp_path), "stale: run `make compile` and commit"


def test_compiled_yaml_is_ascii():
    assert COMPILED.read_text().isascii()


def dags(spec: dict) -> dict[str, dict]:
    """Every DAG of the compiled pipeline by name: the root, the exit handler's, the branches."""
    found = {"root": spec["root"]["dag"]["tasks"]}
    for name, component in spec["components"].items():
        if "dag" in component:
            found[name] = component["dag"]["tasks"]
    return found


def all_tasks(spec: dict) -> dict[str, dict]:
    return {name: task for tasks in dags(spec).values() for name, task in tasks.items()}


def test_dag_order_and_inputs():
    spec = next(yaml.safe_load_all(COMPILED.read_text()))
    root = spec["root"]["dag"]["tasks"]
    # The summary is the exit handler's task: it runs whatever happened to the rest.
    assert set(root) == {"exit-handler-1", "summarize-run"}
    assert root["summarize-run"]["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    assert root["summarize-run"]["dependentTasks"] == ["exit-handler-1"]
    body = dags(spec)["comp-exit-handler-1"]
    assert set(body) == {"check-parameters", "resolve-source", "condition-2"}
    changed = dags(spec)["comp-condition-2"]
    assert set(changed) == {"mirror-weights", "register-model", "deploy-model-server",
                            "deploy-llama-stack", "evaluate", "condition-3"}  # fmt: skip
    assert "resolve-source-changed" in body["condition-2"]["triggerPolicy"]["condition"]
    assert "evaluate-passed" in changed["condition-3"]["triggerPolicy"]["condition"]
    assert set(dags(spec)["comp-condition-3"]) == {"publish"}
    tasks = all_tasks(spec)
    # The check comes first and takes every parameter: nothing runs before it has passed.
    assert "dependentTasks" not in tasks["check-parameters"]
    assert tasks["resolve-source"]["dependentTasks"] == ["check-parameters"]
    checked = tasks["check-parameters"]["inputs"]["parameters"]
    assert set(checked) == set(spec["root"]["inputDefinitions"]["parameters"])
    assert "deploy-model-server" in tasks["deploy-llama-stack"]["dependentTasks"]
    assert {"deploy-llama-stack", "register-model"} <= set(tasks["evaluate"]["dependentTasks"])
    assert sorted(tasks["register-model"]["dependentTasks"]) == ["mirror-weights"]
    assert sorted(tasks["deploy-model-server"]["dependentTasks"]) == [
        "mirror-weights",
        "register-model",
    ]
    # The branches follow what they test: the mirror follows the resolve step's verdict, the
    # publish step the evaluation, and every step before it.
    assert body["condition-2"]["dependentTasks"] == ["resolve-source"]
    assert "dependentTasks" not in tasks["mirror-weights"]
    assert {"deploy-model-server", "deploy-llama-stack", "register-model", "evaluate"} <= set(
        changed["condition-3"]["dependentTasks"]
    )
    params = spec["root"]["inputDefinitions"]["parameters"]
    # The seed's defaults: the cluster path serves Llama 3.2 3B in self-healing-platform.
    assert params["source_uri"]["defaultValue"] == "hf://meta-llama/Llama-3.2-3B-Instruct"
    assert params["namespace"]["defaultValue"] == "self-healing-platform"
    assert params["target"]["defaultValue"] == "openshift"
    assert params["lightspeed_provider"]["defaultValue"] == "llamastack"
    assert (
        params["mcp_url"]["defaultValue"]
        == "http://cluster-health-mcp-server.self-healing-platform.svc:3000/mcp"
    )
    assert json.loads(params["tolerations"]["defaultValue"]) == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    credential = re.compile(r"(^|_)(token|api_key|password|access_key)$")
    assert [name for name in params if credential.search(name)] == [], (
        "credentials must come from Secrets"
    )


def test_every_parameter_has_a_description():
    params = next(yaml.safe_load_all(COMPILED.read_text()))["root"]["inputDefinitions"][
        "parameters"
    ]
    assert [name for name, p in params.items() if len(p.get("description", "")) < 10] == []


def test_steps_that_change_the_cluster_or_the_registry_are_never_cached():
    tasks = all_tasks(next(yaml.safe_load_all(COMPILED.read_text())))
    for name in ("resolve-source", "mirror-weights", "register-model", "deploy-model-server",
                 "deploy-llama-stack", "evaluate", "publish", "summarize-run"):  # fmt: skip
        assert not tasks[name]["cachingOptions"].get("enableCache", False), name
    for name in ("resolve-source", "register-model", "publish"):  # network steps retry
        assert tasks[name]["retryPolicy"]["maxRetryCount"] >= 1, name


def test_secrets_come_from_kubernetes_secrets_named_by_parameters():
    docs = list(yaml.safe_load_all(COMPILED.read_text()))
    executors = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for executor in ("exec-resolve-source", "exec-mirror-weights", "exec-register-model",
                     "exec-deploy-model-server", "exec-deploy-llama-stack", "exec-evaluate",
                     "exec-publish", "exec-summarize-run"):  # fmt: skip
        mounts = executors[executor]["secretAsEnv"]
        connection = [
            m
            for m in mounts
            if m["secretNameParameter"]["componentInputParameter"]
            in ("data_connection", "pipelinechannel--data_connection")
        ]
        assert len(connection) == 1
        assert {k["envVar"] for k in connection[0]["keyToEnv"]} == set(DATA_CONNECTION_KEYS)
    for executor in ("exec-resolve-source", "exec-mirror-weights"):
        names = [
            m["secretNameParameter"]["componentInputParameter"]
            for m in executors[executor]["secretAsEnv"]
        ]
        assert "pipelinechannel--hf_token_secret" in names
    text = COMPILED.read_text()
    # Hugging Face and AWS keys, JWTs (service-account tokens), PEM keys: none in the YAML.
    secret = r"hf_[A-Za-z0-9]{30,}|AKIA[0-9A-Z]{12,}|eyJ[A-Za-z0-9_-]{20,}\.|-----BEGIN [A-Z ]*KEY"
    assert not re.search(secret, text), "a credential in the YAML"
    params = docs[0]["root"]["inputDefinitions"]["parameters"]
    assert not {"AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "hf_token"} & set(params)


def executors() -> dict:
    return next(yaml.safe_load_all(COMPILED.read_text()))["deploymentSpec"]["executors"]


def test_steps_do_not_install_kfp_at_run_time():
    # A disconnected cluster cannot reach PyPI; kfp is already in the runtime image.
    for name, executor in executors().items():
        script = " ".join(executor["container"]["command"])
        assert not re.search(r"\bpip3? install\b", script), name
        assert "python3 -m kfp.dsl.executor_main" in script, name


def test_every_step_runs_in_the_runtime_image_that_manifests_build():
    build = yaml.safe_load((ROOT / "manifests" / "runtime-image" / "buildconfig.yaml").read_text())
    stream = yaml.safe_load((ROOT / "manifests" / "runtime-image" / "imagestream.yaml").read_text())
    output = build["spec"]["output"]["to"]
    assert output["kind"] == "ImageStreamTag"
    assert output["name"].split(":")[0] == stream["metadata"]["name"]
    assert stream["spec"]["lookupPolicy"]["local"] is True  # the short name resolves in-project
    assert {e["container"]["image"] for e in executors().values()} == {output["name"]}


def test_compile_can_point_every_step_at_another_image(tmp_path):
    from pipelines.compile import compile_pipeline

    image = "quay.io/acme/llama-rollout-runtime@sha256:" + "a" * 64
    out = tmp_path / "other.yaml"
    compile_pipeline(out, image=image)
    text = out.read_text()
    assert {
        e["container"]["image"]
        for e in next(yaml.safe_load_all(text))["deploymentSpec"]["executors"].values()
    } == {image}
    assert text.replace(image, "llama-rollout-runtime:0.1.0") == COMPILED.read_text()


def test_the_mirror_is_neither_cached_nor_retried_by_kfp():
    tasks = all_tasks(next(yaml.safe_load_all(COMPILED.read_text())))
    assert not tasks["mirror-weights"]["cachingOptions"].get("enableCache", False)
    assert "retryPolicy" not in tasks["mirror-weights"]


def test_no_step_wears_the_label_that_would_let_it_past_the_stack_s_network_policy():
    """The operator's policy admits pods labelled part-of llama-stack from any namespace; the
    pipeline's steps are admitted by their namespace, and by their runner's token, instead."""
    platform = list(yaml.safe_load_all(COMPILED.read_text()))[1]
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors and all("podMetadata" not in e for e in executors.values())


STRUCTURE = Path(__file__).with_name("pipeline_structure.json")


def test_the_compiled_structure_is_the_one_on_record():
    """Refactoring moves code, not the run: inputs and defaults, tasks and edges, conditions,
    Secrets and labels, caching, retries and images stay what they were when this record was
    made (from the compiled file at 23f9ad9). A deliberate change of structure rewrites the
    record in the same commit: ``python -m tests.unit.pipeline_structure``."""
    documents = list(yaml.safe_load_all(COMPILED.read_text()))
    assert structure(documents) == json.loads(STRUCTURE.read_text())
