"""Finding a Model Registry's REST address in its ModelRegistry CR."""

from __future__ import annotations

import pytest

from llama_rollout.errors import ConfigurationError, RegistryError
from llama_rollout.registry import endpoint as registry_endpoint

AVAILABLE = {"type": "Available", "status": "True", "reason": "DeploymentAvailable"}


def cr(spec: dict, hosts: list[str], conditions: list[dict] | None = None) -> dict:
    return {
        "metadata": {"name": "public", "namespace": "rhoai-model-registries"},
        "spec": spec,
        "status": {"hosts": hosts, "conditions": [AVAILABLE] if conditions is None else conditions},
    }


SERVICE_HOSTS = [
    "public.rhoai-model-registries.svc.cluster.local",
    "public.rhoai-model-registries",
    "public",
]


@pytest.mark.parametrize(
    ("spec", "hosts", "url"),
    [
        # The operator's default on OpenShift: kube-rbac-proxy with its Route, first in hosts.
        ({"kubeRBACProxy": {"port": 8443}}, ["public-rest.apps.example.com", *SERVICE_HOSTS],
         "https://public-rest.apps.example.com"),
        # Gateway mode lists <domain>/model-registry/<name> first: the Route is still used.
        ({"kubeRBACProxy": {}}, ["gw.example.com/model-registry/public", "public-rest.apps.example.com", *SERVICE_HOSTS],
         "https://public-rest.apps.example.com"),
        ({"kubeRBACProxy": {"port": 9443, "serviceRoute": "disabled"}}, SERVICE_HOSTS,
         "https://public.rhoai-model-registries.svc.cluster.local:9443"),
        ({"rest": {"port": 8080}}, SERVICE_HOSTS, "http://public.rhoai-model-registries.svc.cluster.local:8080"),
    ],
    ids=["route", "gateway-and-route", "service-behind-the-proxy", "no-proxy"],
)  # fmt: skip
def test_the_rest_address_comes_from_the_cr(spec, hosts, url):
    assert registry_endpoint.registry_url_of(cr(spec, hosts)) == url


def test_a_registry_that_is_not_available_says_why():
    unavailable = [{"type": "Available", "status": "False", "reason": "DeploymentUnavailable",
                    "message": "waiting for the database"}]  # fmt: skip
    with pytest.raises(
        RegistryError,
        match=r"public in rhoai-model-registries is not available \(DeploymentUnavailable: waiting",
    ):
        registry_endpoint.registry_url_of(cr({}, SERVICE_HOSTS, unavailable))
    with pytest.raises(RegistryError, match="no Available condition yet"):
        registry_endpoint.registry_url_of(cr({}, [], []))


def test_no_token_goes_to_an_http_url(tmp_path, monkeypatch):
    (tmp_path / "token").write_text("sa-token")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tmp_path / "token"))
    assert registry_endpoint.endpoint_for("http://registry:8080").token is None
    assert registry_endpoint.endpoint_for("https://registry").token == "sa-token"


def test_a_registry_must_be_named():
    with pytest.raises(ConfigurationError, match=r"no Model Registry given.*registry_name"):
        registry_endpoint.resolve_endpoint(registry_url="", registry_name="", registry_namespace="")
    with pytest.raises(ConfigurationError, match="invalid Model Registry URL"):
        registry_endpoint.resolve_endpoint(
            registry_url="registry:8080", registry_name="", registry_namespace=""
        )
