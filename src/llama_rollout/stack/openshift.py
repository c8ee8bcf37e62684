"""The Llama Stack stage on OpenShift AI: the operator's CR where the installed operator can
run it, plain objects elsewhere, then the chain checks.

The namespace, the kinds and the settings are checked before anything is applied. Both paths
admit the namespaces of the stack's clients (``request.network_clients``): the operator's
NetworkPolicy through ``spec.network.allowedFrom``, the fallback through a NetworkPolicy of its
own (``objects``); the token check tells the clients apart inside them (``access``). Readiness
is the CR's ``status.phase`` and the operator's Deployment (operator) or the Deployment's
rollout (fallback); failures are explained from the CR's conditions and the pods (image pull,
crash loop with the last log line: a config the server rejects shows up as a crash loop whose
last line says so).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from llama_rollout.kube import (
    Kube,
    KubeError,
    Patience,
    Readiness,
    api_client,
    current_namespace,
    explain_pods,
    schema_has,
    watch_until,
)
from llama_rollout.kube.identity import who_am_i
from llama_rollout.mcp_server.access import client_token
from llama_rollout.stack.config import model_id
from llama_rollout.stack.health import verify_chain
from llama_rollout.stack.objects import service_url, stack_objects
from llama_rollout.stack.readiness import deployment_readiness, llsd_readiness
from llama_rollout.stack.request import StackReport, StackRequest
from llama_rollout.stack.settings import (
    ALLOWED_FROM_FIELD,
    CONFIG_YAML_OPERATOR_FIELDS,
    LLSD_API,
    MODEL_CLIENT_ACCOUNT,
    PORT,
    StackSettings,
)

logger = logging.getLogger(__name__)

# The operator labels its pods with the instance name (app.kubernetes.io/instance); the
# fallback Deployment uses the same label, so one selector finds the pods on both paths.
INSTANCE_LABEL = "app.kubernetes.io/instance"


def operator_path(kube: Kube, settings: StackSettings) -> bool:
    """Whether the installed operator can run this project's Llama Stack (and admit its
    clients' namespaces, ``allowed_namespaces``, through ``spec.network.allowedFrom``)."""
    if not kube.serves(LLSD_API, "LlamaStackDistribution"):
        logger.info("the Llama Stack operator is not installed: deploying a Deployment instead")
        return False
    schema = kube.schema_of(LLSD_API, "LlamaStackDistribution")
    if schema is not None and not all(schema_has(schema, f) for f in CONFIG_YAML_OPERATOR_FIELDS):
        logger.warning(
            "the installed Llama Stack operator starts llama_stack.core.server.server with a "
            "run.yaml, which Llama Stack 0.7 no longer has (its CRD lacks %s): deploying "
            "Llama Stack as a Deployment instead",
            " and ".join(CONFIG_YAML_OPERATOR_FIELDS),
        )
        return False
    if (
        settings.allowed_namespaces
        and schema is not None
        and not schema_has(schema, ALLOWED_FROM_FIELD)
    ):
        # The API server prunes the field, and nothing says so until a caller times out.
        logger.warning(
            "the installed Llama Stack operator has no %s: its NetworkPolicy will refuse %s; "
            "add a NetworkPolicy in %s admitting them to the pods %s=%s on port %d",
            ALLOWED_FROM_FIELD,
            ", ".join(settings.allowed_namespaces),
            settings.namespace,
            INSTANCE_LABEL,
            settings.name,
            PORT,
        )
    return True


def check_vllm_token(kube: Kube, settings: StackSettings) -> None:
    """The token Secret the stack will call vLLM with is there and filled: a pod whose
    environment names a missing Secret never starts, and one with an empty token is refused
    by KServe's auth proxy at its first call.

    Raises:
        KubeError: the Secret is missing, or has no token.
    """
    name, namespace = settings.vllm_token_secret, settings.namespace
    secret = kube.get("v1", "Secret", name, namespace)
    if secret is None:
        raise KubeError(
            f"no Secret {namespace}/{name} for Llama Stack to call vLLM with (vLLM has auth on)",
            hint=f"oc apply -k manifests/pipeline-runner -n {namespace} (it creates the "
            f"{MODEL_CLIENT_ACCOUNT} ServiceAccount and its token Secret), or give "
            "vllm_token_secret the token Secret of another account that may get "
            "InferenceServices here",
        )
    if not (secret.get("data") or {}).get("token"):
        raise KubeError(
            f"Secret {namespace}/{name} has no key token for Llama Stack to call vLLM with",
            hint="give vllm_token_secret a service-account token Secret (type "
            "kubernetes.io/service-account-token): the token controller fills it within seconds",
        )


def deploy_stack(
    kube: Kube,
    settings: StackSettings,
    *,
    timeout: float = 900,
    interval: float = 5,
    unschedulable_grace: float = 300,
) -> str:
    """Apply the stack's objects, wait until it runs, return its in-cluster URL.

    Returns:
        The base URL (``http://<service>.<namespace>.svc.cluster.local:8321``, or the CR's
        ``status.serviceURL``).
    """
    kube.require_namespace(settings.namespace)
    if settings.vllm_token_secret:
        check_vllm_token(kube, settings)
    operator = operator_path(kube, settings)
    objects = stack_objects(settings, operator=operator)  # raises before anything is applied
    logger.info(
        "deploying Llama Stack %s/%s %s",
        settings.namespace,
        settings.name,
        "with the operator (LlamaStackDistribution)" if operator else "as a Deployment",
    )
    for obj in objects:
        kube.apply(obj)
    pods = {INSTANCE_LABEL: settings.name}
    patience = Patience(unschedulable_grace)

    # The object watched: the CR (the operator), or the Deployment (the fallback).
    watched = ("LlamaStackDistribution", LLSD_API) if operator else ("Deployment", "apps/v1")

    def check(obj: dict[str, Any] | None) -> Readiness:
        if operator:
            readiness = llsd_readiness(obj)
            if readiness.ready:
                # The operator's Deployment too: its phase may still reflect the old pods.
                readiness = deployment_readiness(
                    kube.get("apps/v1", "Deployment", settings.name, settings.namespace)
                )
        else:
            readiness = deployment_readiness(obj)
        if readiness.ready or readiness.failure:
            return readiness
        return explain_pods(kube, settings.namespace, pods, readiness, patience)

    watch_until(
        kube,
        watched[1],
        watched[0],
        settings.name,
        settings.namespace,
        check,
        timeout=timeout,
        resync=interval,
    )
    if operator:
        obj = kube.get(LLSD_API, "LlamaStackDistribution", settings.name, settings.namespace) or {}
        return ((obj.get("status") or {}).get("serviceURL") or service_url(settings)).rstrip("/")
    return service_url(settings)


def serve(request: StackRequest, *, kube: Kube | None = None) -> StackReport:
    """The Llama Stack step on OpenShift AI (see :func:`llama_rollout.stack.step.serve`):
    deploy, then prove the chain to vLLM and MCP."""

    kube = kube or Kube(api_client())
    runner = who_am_i(kube)
    settings = request.settings(request.namespace or current_namespace(), runner)
    mcp_token = client_token(settings.namespace, request.mcp_token_secret, kube=kube)
    url = deploy_stack(kube, settings, timeout=request.timeout_seconds)
    report = verify_chain(url, model_id(request.serving_model), request.mcp_url, mcp_token)
    return replace(report, caller=runner)
