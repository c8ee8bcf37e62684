"""The components' cluster paths, run for real against the fake API as the pipeline runner.

The fake API enforces manifests/pipeline-runner's Role for the runner's token (kubeconfig in
KUBECONFIG, as on a laptop logged in with oc); its controllers make the InferenceService and
the LlamaStackDistribution ready at the addresses of the embedded stack's real vLLM and Llama
Stack, so the preflight, the registry record and the chain checks talk to real servers.

The steps' calls to the registry (through its Route: the step's pod to the router's, the
router's to the registry's) and to Llama Stack (the step's pod to the stack's, under the
operator's NetworkPolicy, tests/operator_policies.py) go through Edges (tests/network_policy.py),
so the policies in the fake decide them as on a cluster. Not routed: the model server step's
calls to vLLM (the test compares the step's ``url`` with the embedded vLLM's, so the
InferenceService's address stays that one), the steps' calls to MCP (the stack step hands
``mcp_url`` to Llama Stack too, which would then connect through the step's Edge), and Llama
Stack's own calls to vLLM and MCP (the embedded stack was configured with their addresses
before the fake cluster exists).
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from llama_rollout.mcp_server.access import TOKEN_SECRET as MCP_TOKEN_SECRET
from tests.fake_kube import FakeKube, running, write_kubeconfig
from tests.network_policy import Edge, Pod, Port
from tests.operator_policies import (
    INGRESS_NAMESPACE,
    LLAMA_STACK_PORT,
    REGISTRIES_NAMESPACE,
    REGISTRY_LABELS,
    ROUTER_LABELS,
    STEP_LABELS,
    llama_stack_pod_labels,
    llama_stack_policy,
    routers_only_policy,
)

ROLE = Path(__file__).resolve().parents[2] / "manifests" / "pipeline-runner" / "role.yaml"
NAMESPACE = "pipelines"
RUNNER = f"system:serviceaccount:{NAMESPACE}:pipeline-runner-dspa"
# The steps' pods (Kubeflow Pipelines' label on every v2 pod: the stack's policy admits their
# namespace, and the stack their runner's token), the default router's, the registry's.
STEP = Pod(NAMESPACE, STEP_LABELS)
ROUTER = Pod(INGRESS_NAMESPACE, ROUTER_LABELS)
REGISTRY = Pod(REGISTRIES_NAMESPACE, REGISTRY_LABELS)


def rolled_out(obj: dict[str, Any]) -> None:
    obj["status"] = {"observedGeneration": obj["metadata"]["generation"], "replicas": 1,
                     "updatedReplicas": 1, "availableReplicas": 1}  # fmt: skip


@contextlib.contextmanager
def openshift_ai(tmp_path: Path, connection: str) -> Iterator[tuple[FakeKube, Path]]:
    """A fake OpenShift AI project as an admin would set it up for the pipeline (its Role
    bound to the runner, a dashboard data connection); yields it and a kubeconfig for it."""
    fake = FakeKube(rbac=True, tokens={"runner": RUNNER})
    fake.add_namespace(NAMESPACE)
    role = yaml.safe_load(ROLE.read_text())
    fake.put("roles", {**role, "metadata": {**role["metadata"], "namespace": NAMESPACE}})
    fake.put("rolebindings", {
        "metadata": {"name": "llama-rollout-pipeline", "namespace": NAMESPACE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]},
        "subjects": [{"kind": "ServiceAccount", "name": "pipeline-runner-dspa", "namespace": NAMESPACE}],
    })  # fmt: skip
    fake.put("secrets", {"metadata": {"name": connection, "namespace": NAMESPACE,
        "labels": {"opendatahub.io/dashboard": "true", "opendatahub.io/managed": "true"},
        "annotations": {"opendatahub.io/connection-type-ref": "s3"}}})  # fmt: skip
    with running(fake) as api:
        yield fake, write_kubeconfig(tmp_path / "kubeconfig", api, "runner", NAMESPACE)


def run_cluster_steps(
    fake: FakeKube, outputs: dict[str, Any], registry_url: str, connection: str, mcp_token: str
) -> dict[str, Any]:
    """register_model, deploy_model_server and deploy_llama_stack on their cluster paths, with
    KServe and the Llama Stack operator played by hooks that point at the embedded servers.
    The embedded MCP server's token is the Secret the stack step reads, as on a cluster."""
    from components.deploy_llama_stack import deploy_llama_stack
    from components.deploy_model_server import deploy_model_server
    from components.register_model import register_model

    model = outputs["serving"]["model"]
    fake.put("secrets", {"metadata": {"name": MCP_TOKEN_SECRET, "namespace": NAMESPACE},
                         "data": {"token": base64.b64encode(mcp_token.encode()).decode()}})  # fmt: skip
    # Each version has its own InferenceService and Llama Stack, named after its revision.
    short = outputs["revision"][:7]
    stack_name = f"llama-stack-{short}"
    fake.add_namespace(INGRESS_NAMESPACE, {"network.openshift.io/policy-group": "ingress"})
    fake.add_namespace(REGISTRIES_NAMESPACE)
    fake.put("networkpolicies", routers_only_policy())
    with contextlib.ExitStack() as edges:
        route = edges.enter_context(Edge(fake, ROUTER, REGISTRY, Port(8443), registry_url))
        to_registry = edges.enter_context(Edge(fake, STEP, ROUTER, Port(443), route.url))
        stack_pod = Pod(NAMESPACE, llama_stack_pod_labels(stack_name))
        to_stack = edges.enter_context(Edge(
            fake, STEP, stack_pod, Port(LLAMA_STACK_PORT), outputs["llama_stack"]["url"]
        ))  # fmt: skip

        def kserve(obj: dict[str, Any], fake: FakeKube) -> None:
            obj["status"] = {"observedGeneration": obj["metadata"]["generation"],
                             "conditions": [{"type": "Ready", "status": "True"}],
                             "modelStatus": {"states": {"activeModelState": "Loaded"}},
                             "address": {"url": outputs["serving"]["url"].removesuffix("/v1")}}  # fmt: skip

        def operator(obj: dict[str, Any], fake: FakeKube) -> None:
            fake.put("networkpolicies", llama_stack_policy(obj))  # its reconcile, from the CR
            # The Service's address, as the step's pod reaches it.
            obj["status"] = {"phase": "Ready", "serviceURL": to_stack.url}
            deployment = {"metadata": {"name": obj["metadata"]["name"], "namespace": NAMESPACE, "generation": 1},
                          "spec": {"replicas": 1}}  # fmt: skip
            rolled_out(deployment)
            fake.put("deployments", deployment)

        fake.on_read("inferenceservices", f"{model}-{short}", kserve, namespace=NAMESPACE)
        fake.on_read("llamastackdistributions", stack_name, operator, namespace=NAMESPACE)
        journal = {"s3_prefix": "models", "run_id": "e2e"}
        registered = register_model.python_func(
            model_name=outputs["model_name"], model_uri=outputs["model_uri"],
            registry_url=to_registry.url, registry_name="", registry_namespace="",
            data_connection=connection, pipeline_run_id="e2e", s3_prefix="models",
        )  # fmt: skip
        served = deploy_model_server.python_func(
            target="openshift", model_name=model, model_uri=outputs["model_uri"],
            storage_path=outputs["model_uri"].removeprefix("s3://models/").rstrip("/"),
            revision=outputs["revision"], data_connection=connection, registry_url=to_registry.url,
            registry_name="", registry_namespace="", registered_model_id=registered.registered_model_id,
            model_version_id=registered.model_version_id, namespace=NAMESPACE,
            runtime_image="registry.redhat.io/rhaiis/vllm-cuda-rhel9@sha256:" + "e" * 64, gpu_count=1,
            tolerations="[]", node_selector="{}", max_model_len=4096, tool_call_parser="hermes",
            chat_template="tool_chat_template_hermes.jinja", shm_size="2Gi", extra_vllm_args=[],
            min_replicas=1, max_replicas=1, enable_auth=False,
            require_tool_calling=False,  # the bundled 135M model rarely picks a tool by itself
            timeout_seconds=60, **journal,
        )  # fmt: skip
        stack = deploy_llama_stack.python_func(
            target="openshift", serving_url=served.url, serving_model=served.model,
            revision=outputs["revision"], mcp_url=outputs["mcp"]["url"],
            mcp_token_secret=MCP_TOKEN_SECRET, namespace=NAMESPACE, name="llama-stack", distribution_image="docker.io/llamastack/distribution-starter:0.7.3",
            distribution_name="", vllm_token_secret="", serving_auth=False, vllm_max_tokens=512, replicas=1,
            storage_size="5Gi", timeout_seconds=60, lightspeed_endpoint="llama-stack", **journal,
        )  # fmt: skip
        # The policies held: the operator's admits the stack step's namespace, the registries
        # the routers; the serving step closed vLLM to all but its clients.
        assert fake.get("networkpolicies", f"{served.name}-clients", NAMESPACE)
        assert fake.get("networkpolicies", f"{stack_name}-network-policy", NAMESPACE)
        assert to_registry.forwarded and route.forwarded and to_stack.forwarded, "routed"
    return {"registered": registered, "served": served, "stack": stack}
