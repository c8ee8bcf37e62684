"""The registry stage: versions with provenance in the Kubeflow Model Registry, the deployment
record, and where the registry is (``endpoint``)."""

from llama_rollout.registry.deployments import DeploymentRecord, record_deployment
from llama_rollout.registry.endpoint import (
    RegistryEndpoint,
    endpoint_for,
    find_registry,
    resolve_endpoint,
)
from llama_rollout.registry.request import RegisteredVersion
from llama_rollout.registry.versions import (
    Provenance,
    client_errors,
    connect,
    latest_version,
    register_version,
    version_by_revision,
)

__all__ = [
    "DeploymentRecord",
    "Provenance",
    "RegisteredVersion",
    "RegistryEndpoint",
    "client_errors",
    "connect",
    "endpoint_for",
    "find_registry",
    "latest_version",
    "record_deployment",
    "register_version",
    "resolve_endpoint",
    "version_by_revision",
]
