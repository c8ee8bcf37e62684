"""Reaching an OpenShift AI Model Registry as a pipeline step does: found by name, over HTTPS,
through kube-rbac-proxy, with the service account's token, never sending it in the clear."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
import trustme
from fastapi import Request

from llama_rollout import registry
from llama_rollout.embedded.registry_server import create_app
from llama_rollout.errors import RegistryError
from tests.fake_kube import FakeKube, ResourceType, running
from tests.kube_rbac_proxy import create_proxy
from tests.servers import serve_app

pytestmark = pytest.mark.integration

RUNNER = "system:serviceaccount:pipelines:pipeline-runner-dspa"
PROXY_SA = "system:serviceaccount:rhoai-model-registries:public"
RBAC = "rbac.authorization.k8s.io"


def provenance() -> registry.Provenance:
    return registry.Provenance("hf://acme/m@" + "a" * 40, "a" * 40, "d" * 64)


def register(endpoint: registry.RegistryEndpoint) -> registry.RegisteredVersion:
    return registry.register_version(
        registry.connect(endpoint), model_name="llama", model_uri="s3://models/m/a/",
        storage_key="conn", storage_path="m/a", provenance=provenance(),
    )  # fmt: skip


@pytest.fixture
def cluster_with_registry(tmp_path):
    """The fake API with RBAC, a ModelRegistry `public`, and its kube-rbac-proxy over TLS."""
    fake = FakeKube(
        rbac=True,
        tokens={"runner": RUNNER, "proxy": PROXY_SA, "other": "system:serviceaccount:x:y"},
    )
    fake.types.append(
        ResourceType("modelregistry.opendatahub.io", "v1beta1", "modelregistries", "ModelRegistry")
    )
    fake.add_namespace("rhoai-model-registries")
    fake.put("clusterroles", {"metadata": {"name": "system:auth-delegator"}, "rules": [
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
        {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
    ]})  # fmt: skip
    fake.put("clusterrolebindings", {
        "metadata": {"name": "public-auth-delegator"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "system:auth-delegator"},
        "subjects": [{"kind": "ServiceAccount", "name": "public", "namespace": "rhoai-model-registries"}],
    })  # fmt: skip
    # What the operator creates for users of the registry, and what manifests/ grants to read it.
    fake.put("roles", {"metadata": {"name": "registry-user-public", "namespace": "rhoai-model-registries"},
                       "rules": [{"apiGroups": [""], "resources": ["services"], "resourceNames": ["public"], "verbs": ["get"]}]})  # fmt: skip
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "ca.pem"
    certificate.cert_chain_pems[0].write_to_path(cert_file)
    certificate.private_key_pem.write_to_path(key_file)
    ca.cert_pem.write_to_path(ca_file)
    with ExitStack() as stack:
        api = stack.enter_context(running(fake))
        upstream = stack.enter_context(serve_app(create_app(tmp_path / "registry.sqlite")))
        proxy = create_proxy(upstream=upstream, api_server=api, token="proxy", registry="public",
                             namespace="rhoai-model-registries")  # fmt: skip
        url = stack.enter_context(serve_app(proxy, tls=(str(cert_file), str(key_file))))
        fake.put("modelregistries", {
            "apiVersion": "modelregistry.opendatahub.io/v1beta1", "kind": "ModelRegistry",
            "metadata": {"name": "public", "namespace": "rhoai-model-registries"},
            "spec": {"kubeRBACProxy": {"port": 8443}},
            "status": {"hosts": [url.removeprefix("https://"), "public.rhoai-model-registries.svc.cluster.local"],
                       "conditions": [{"type": "Available", "status": "True"}]},
        })  # fmt: skip
        yield fake, api, url, str(ca_file)


def grant_registry_user(fake: FakeKube) -> None:
    """`oc create rolebinding ... --role=registry-user-public --serviceaccount=pipelines:pipeline-runner-dspa`"""
    fake.put("rolebindings", {
        "metadata": {"name": "llama-rollout-registry-user", "namespace": "rhoai-model-registries"},
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "registry-user-public"},
        "subjects": [{"kind": "ServiceAccount", "name": "pipeline-runner-dspa", "namespace": "pipelines"}],
    })  # fmt: skip


def test_the_registry_is_found_by_name_and_reached_through_kube_rbac_proxy(cluster_with_registry):
    from kubernetes import client

    from llama_rollout.kube import Kube

    fake, api, url, ca_file = cluster_with_registry
    grant_registry_user(fake)
    fake.put("roles", {"metadata": {"name": "llama-rollout-registry-reader", "namespace": "rhoai-model-registries"},
                       "rules": [{"apiGroups": ["modelregistry.opendatahub.io"], "resources": ["modelregistries"], "verbs": ["get"]}]})  # fmt: skip
    fake.put("rolebindings", {
        "metadata": {"name": "llama-rollout-registry-reader", "namespace": "rhoai-model-registries"},
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "llama-rollout-registry-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "pipeline-runner-dspa", "namespace": "pipelines"}],
    })  # fmt: skip
    configuration = client.Configuration(host=api, api_key={"authorization": "Bearer runner"})
    kube = Kube(client.ApiClient(configuration))
    assert registry.find_registry(kube, "public") == url
    ids = register(registry.RegistryEndpoint(url, "runner", ca_file))
    assert ids.created and ids.model_artifact_id


@pytest.mark.parametrize(
    ("token", "grant", "says"),
    [
        (None, True, "user token must be provided"),
        ("nobody", True, "401"),
        ("other", True, "403"),
        ("runner", False, "403"),
    ],
    ids=["no-token", "unknown-token", "another-account", "no-rolebinding"],
)
def test_the_proxy_lets_only_a_token_that_may_get_the_registry_service_through(
    cluster_with_registry, token, grant, says
):
    fake, _, url, ca_file = cluster_with_registry
    if grant:
        grant_registry_user(fake)
    with pytest.raises(RegistryError, match=says):
        register(registry.RegistryEndpoint(url, token, ca_file))


def test_an_untrusted_certificate_is_refused(cluster_with_registry):
    fake, _, url, _ = cluster_with_registry
    grant_registry_user(fake)
    with pytest.raises(RegistryError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        register(registry.RegistryEndpoint(url, "runner", None))


def test_no_token_is_sent_to_an_http_registry(tmp_path, monkeypatch):
    (tmp_path / "token").write_text("the-pod-s-token")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tmp_path / "token"))
    seen: list[str] = []
    app = create_app(tmp_path / "registry.sqlite")

    @app.middleware("http")
    async def record(request: Request, call_next):
        seen.append(request.headers.get("authorization", ""))
        return await call_next(request)

    with serve_app(app) as url:
        ids = register(registry.endpoint_for(url))
        registry.record_deployment(
            registry.endpoint_for(url), serving_environment="ai", name="llama",
            registered_model_id=ids.registered_model_id, model_version_id=ids.model_version_id,
        )  # fmt: skip
    assert seen and not any(seen), "a token went over plain HTTP"
