"""Where the Model Registry is, and how a pipeline step may talk to it.

On OpenShift AI a registry is a ModelRegistry CR (``modelregistry.opendatahub.io``) in the
registries namespace (``rhoai-model-registries``), named as the dashboard shows it. Read from
opendatahub-io/model-registry-operator: its Service (named after the CR) exposes only
``https-api`` on 8443 behind kube-rbac-proxy, a NetworkPolicy admits the router and the
platform's own namespaces to it, and users reach it through the Route ``<name>-rest.<apps
domain>`` (reencrypt), which is first in ``status.hosts``. kube-rbac-proxy lets a token through
when it may ``get services/<name>`` in the registry's namespace (the ``registry-user-<name>``
Role); manifests/model-registry-access has the RoleBinding commands.

So the step finds the address in the CR, and reaches it over HTTPS with its service account's
token, checking the certificate against the system CAs and the cluster's service CA. A token is
never sent to an ``http://`` URL (the official client would send the pod's token there).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from llama_rollout.errors import ConfigurationError, RegistryError
from llama_rollout.http_urls import check_http_url
from llama_rollout.kube import Kube, api_client
from llama_rollout.kube.identity import service_account_token
from llama_rollout.kube.trust import cluster_ca_bundle
from llama_rollout.step_parameters import parameter

logger = logging.getLogger(__name__)

MODEL_REGISTRY_API = "modelregistry.opendatahub.io/v1beta1"
DEFAULT_REGISTRIES_NAMESPACE = "rhoai-model-registries"
# kube-rbac-proxy's and the REST API's ports (the operator's defaults: spec.kubeRBACProxy.port,
# spec.rest.port).
PROXY_PORT = 8443
REST_PORT = 8080


@dataclass(frozen=True)
class RegistryEndpoint:
    """A Model Registry's REST address and what a request to it carries."""

    url: str
    token: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None

    @property
    def secure(self) -> bool:
        return self.url.startswith("https://")


def registry_url_of(cr: dict[str, Any]) -> str:
    """The REST base URL of a ModelRegistry CR: its Route, else its Service.

    Raises:
        RegistryError: the registry is not available (its condition says why).
    """
    meta, spec, status = cr["metadata"], cr.get("spec") or {}, cr.get("status") or {}
    name, namespace = meta["name"], meta["namespace"]
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    available = conditions.get("Available") or {}
    if available.get("status") != "True":
        why = ": ".join(x for x in (available.get("reason"), available.get("message")) if x)
        raise RegistryError(
            f"Model Registry {name} in {namespace} is not available"
            + (f" ({why})" if why else " (no Available condition yet)"),
            hint="check the ModelRegistry in the dashboard (Settings > Model registries)",
        )
    internal = {
        name,
        f"{name}.{namespace}",
        f"{name}.{namespace}.svc",
        f"{name}.{namespace}.svc.cluster.local",
    }
    routes = [h for h in status.get("hosts") or [] if h not in internal and "/" not in h]
    if routes:
        return f"https://{routes[0]}"
    if spec.get("kubeRBACProxy") is not None or spec.get("oauthProxy") is not None:
        logger.warning(
            "Model Registry %s has no Route: reaching its Service, which its NetworkPolicy may "
            "refuse from this namespace",
            name,
        )
        port = (spec.get("kubeRBACProxy") or spec.get("oauthProxy") or {}).get("port", PROXY_PORT)
        return f"https://{name}.{namespace}.svc.cluster.local:{port}"
    port = (spec.get("rest") or {}).get("port", REST_PORT)
    return f"http://{name}.{namespace}.svc.cluster.local:{port}"


def find_registry(kube: Any, name: str, namespace: str = DEFAULT_REGISTRIES_NAMESPACE) -> str:
    """The REST base URL of the registry the dashboard shows as ``name``."""
    if not kube.serves(MODEL_REGISTRY_API, "ModelRegistry"):
        raise RegistryError(
            "this cluster has no Model Registry (the ModelRegistry kind is not served)",
            hint="enable the model registry component of OpenShift AI, or give registry_url",
        )
    cr = kube.get(MODEL_REGISTRY_API, "ModelRegistry", name, namespace)
    if cr is None:
        raise RegistryError(
            f"no Model Registry named {name!r} in {namespace}",
            hint="give the name the dashboard shows under Settings > Model registries, and "
            "registry_namespace if the registries live elsewhere",
        )
    url = registry_url_of(cr)
    logger.info("Model Registry %s is at %s", name, url)
    return url


def endpoint_for(url: str, *, token: str | None = None) -> RegistryEndpoint:
    """How to reach ``url``: over HTTPS, the token (default: the pod's) and the cluster's CAs;
    over HTTP, nothing secret."""
    check_http_url("invalid Model Registry URL", url)
    if not url.startswith("https://"):
        return RegistryEndpoint(url.rstrip("/"))
    return RegistryEndpoint(
        url.rstrip("/"),
        token if token is not None else service_account_token(),
        cluster_ca_bundle(),
    )


class RegistryReference(BaseModel):
    """Which Model Registry a step talks to: one on the cluster by the name the dashboard
    shows, or any by its REST URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = parameter(
        "",
        component="registry_name",
        description="the Model Registry, by the name the "
        "dashboard shows (its ModelRegistry CR); the steps find its address there.",
    )
    namespace: str = parameter(
        DEFAULT_REGISTRIES_NAMESPACE,
        component="registry_namespace",
        description="where the ModelRegistry CRs live.",
    )
    url: str = parameter(
        "",
        component="registry_url",
        description="a registry's REST URL instead (overrides registry_name's).",
    )

    def endpoint(self, kube: Any = None) -> RegistryEndpoint:
        """The registry's endpoint: the URL's, else the named registry's on the cluster."""
        return resolve_endpoint(
            registry_url=self.url,
            registry_name=self.name,
            registry_namespace=self.namespace,
            kube=kube,
        )


def resolve_endpoint(
    *, registry_url: str, registry_name: str, registry_namespace: str, kube: Any = None
) -> RegistryEndpoint:
    """The registry a step talks to: ``registry_url`` when given, else the named one's."""
    if registry_url:
        return endpoint_for(registry_url)
    if not registry_name:
        raise ConfigurationError(
            "no Model Registry given",
            hint="set registry_name to the registry's name as the dashboard shows it "
            "(or registry_url to its REST URL)",
        )
    if kube is None:
        kube = Kube(api_client())
    return endpoint_for(
        find_registry(kube, registry_name, registry_namespace or DEFAULT_REGISTRIES_NAMESPACE)
    )
