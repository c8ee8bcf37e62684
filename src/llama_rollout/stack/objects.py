"""The objects that run Llama Stack on OpenShift AI.

A LlamaStackDistribution when the operator can run it, with the config in a ConfigMap under
``config.yaml``; otherwise a Deployment, ConfigMap, Service and PersistentVolumeClaim running
the same image, and the NetworkPolicy the operator would have written, so that the same
callers reach the stack on both paths.
"""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from llama_rollout.errors import RolloutError
from llama_rollout.network_policies import ingress_policy, namespace_peer
from llama_rollout.stack.access import IN_CLUSTER_API_SERVER, IN_CLUSTER_CA, auth_config
from llama_rollout.stack.config import stack_config
from llama_rollout.stack.settings import (
    CONFIG_KEY,
    CONFIG_MOUNT,
    LLSD_API,
    PORT,
    STORAGE_MOUNT,
    StackSettings,
    config_map_name,
    network_policy_name,
    service_name,
    volume_claim_name,
)


def _labels(settings: StackSettings) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "llama-stack",
        "app.kubernetes.io/instance": settings.name,
        "app.kubernetes.io/part-of": "llama-rollout",
    }


def config_map(settings: StackSettings) -> dict[str, Any]:
    config = stack_config(
        distro_name=settings.name,
        vllm_url=settings.vllm_url,
        storage_dir=STORAGE_MOUNT,
        max_tokens=settings.vllm_max_tokens,
        tls_verify=settings.vllm_tls_verify,
        auth=auth_config(
            settings.clients, api_server_url=IN_CLUSTER_API_SERVER, tls_cafile=IN_CLUSTER_CA
        ),
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": settings.config_map_name,
            "namespace": settings.namespace,
            "labels": _labels(settings),
        },
        "data": {CONFIG_KEY: yaml.safe_dump(config, sort_keys=False)},
    }


def config_digest(config: dict[str, Any]) -> str:
    """The sha256 of a config ConfigMap's ``config.yaml``."""
    return hashlib.sha256(config["data"][CONFIG_KEY].encode()).hexdigest()


def llama_stack_distribution(settings: StackSettings, digest: str) -> dict[str, Any]:
    """The operator's LlamaStackDistribution, using the ConfigMap's ``config.yaml``."""
    distribution = (
        {"name": settings.distribution_name}
        if settings.distribution_name
        else {"image": settings.distribution_image}
    )
    network = (
        {"network": {"allowedFrom": {"namespaces": list(settings.allowed_namespaces)}}}
        if settings.allowed_namespaces
        else {}
    )
    return {
        "apiVersion": LLSD_API,
        "kind": "LlamaStackDistribution",
        "metadata": {
            "name": settings.name,
            "namespace": settings.namespace,
            "labels": _labels(settings),
        },
        "spec": {
            "replicas": settings.replicas,
            "server": {
                "distribution": distribution,
                "containerSpec": {
                    "name": "llama-stack",
                    "port": PORT,
                    "env": settings.container_env(digest),
                    "resources": settings.resources(),
                    **_operator_command(settings),
                },
                "userConfig": {"configMapName": settings.config_map_name},
                "storage": {"size": settings.storage_size, "mountPath": STORAGE_MOUNT},
            },
            **network,
        },
    }


def _operator_command(settings: StackSettings) -> dict[str, list[str]]:
    """The operator's own start command for a mounted config (controllers/resource_helper.go,
    ``startupScript``: uvicorn's factory on LLS_PORT with LLS_WORKERS workers, the config from
    LLAMA_STACK_CONFIG, all three set by the operator), under ``opentelemetry-instrument``
    when the stack exports its traces; else none, and the operator's stands."""
    if not settings.otlp_endpoint:
        return {}
    uvicorn = [
        "uvicorn",
        "llama_stack.core.server.server:create_app",
        "--factory",
        "--host",
        "0.0.0.0",
        # Kubernetes expands these from the environment the operator gives the container.
        "--port",
        "$(LLS_PORT)",
        "--workers",
        "$(LLS_WORKERS)",
    ]
    return {"command": settings.command(uvicorn)}


def fallback_objects(settings: StackSettings, digest: str) -> list[dict[str, Any]]:
    """Without the operator: PVC, Deployment and Service running the same image and config,
    and the stack's NetworkPolicy."""
    if settings.distribution_name:
        raise RolloutError(
            f"distribution_name {settings.distribution_name!r} needs the Llama Stack operator",
            hint="install the operator, or give distribution_image instead",
        )
    labels = _labels(settings)
    meta = {"namespace": settings.namespace, "labels": labels}
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": volume_claim_name(settings.name), **meta},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": settings.storage_size}},
        },
    }
    probe = {"httpGet": {"path": "/v1/health", "port": PORT}, "periodSeconds": 10}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": settings.name, **meta},
        "spec": {
            "replicas": settings.replicas,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "Recreate"},  # one pod at a time on a ReadWriteOnce volume
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "llama-stack",
                            "image": settings.distribution_image,
                            # command, not args: args would go to the image's own entrypoint
                            "command": settings.command(
                                [
                                    "llama",
                                    "stack",
                                    "run",
                                    f"{CONFIG_MOUNT}/{CONFIG_KEY}",
                                    "--port",
                                    str(PORT),
                                ]
                            ),
                            "ports": [{"name": "http", "containerPort": PORT}],
                            "env": settings.container_env(digest),
                            "resources": settings.resources(),
                            "startupProbe": {**probe, "failureThreshold": 60},
                            "readinessProbe": probe,
                            "volumeMounts": [
                                {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True},
                                {"name": "storage", "mountPath": STORAGE_MOUNT},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "config", "configMap": {"name": settings.config_map_name}},
                        {
                            "name": "storage",
                            "persistentVolumeClaim": {
                                "claimName": volume_claim_name(settings.name)
                            },
                        },
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service_name(settings.name), **meta},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": PORT, "targetPort": PORT}]},
    }
    return [pvc, deployment, service, network_policy(settings)]


def network_policy(settings: StackSettings) -> dict[str, Any]:
    """The fallback's NetworkPolicy: each of ``allowed_namespaces`` whole, on the stack's port.

    The operator's (llama-stack-k8s-operator, ODH fork, pkg/deploy/plugins/
    networkpolicy_transformer.go) admits these namespaces too, and besides them its own
    namespace and pods labelled ``app.kubernetes.io/part-of: llama-stack`` from anywhere, which
    no pod of this project carries: the token check refuses such a pod. Named as the
    operator names its own."""
    return ingress_policy(
        network_policy_name(settings.name),
        settings.namespace,
        labels=_labels(settings),
        selects=_labels(settings),
        peers=[namespace_peer(namespace) for namespace in settings.allowed_namespaces],
        ports=[PORT],
    )


def stack_objects(settings: StackSettings, *, operator: bool) -> list[dict[str, Any]]:
    """Every object of the Llama Stack stage, in apply order."""
    config = config_map(settings)
    if operator:
        return [config, llama_stack_distribution(settings, config_digest(config))]
    return [config, *fallback_objects(settings, config_digest(config))]


def service_url(settings: StackSettings) -> str:
    """The in-cluster URL of the stack (the operator's Service is ``<name>-service``, as ours)."""
    return f"http://{service_name(settings.name)}.{settings.namespace}.svc.cluster.local:{PORT}"


def owned_objects(name: str) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, name) of everything the Llama Stack step makes for the stack ``name``,
    on either path."""
    return [
        (LLSD_API, "LlamaStackDistribution", name),
        ("apps/v1", "Deployment", name),
        ("v1", "Service", service_name(name)),
        ("v1", "ConfigMap", config_map_name(name)),
        ("v1", "PersistentVolumeClaim", volume_claim_name(name)),
        ("networking.k8s.io/v1", "NetworkPolicy", network_policy_name(name)),
    ]
