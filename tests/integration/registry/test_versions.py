"""The embedded Model Registry, driven by the official model-registry client and over HTTP."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from model_registry.types import ModelVersionState, RegisteredModelState

from llama_rollout import registry
from llama_rollout.errors import RegistryError
from llama_rollout.registry import endpoint_for as endpoint

pytestmark = pytest.mark.integration


def provenance(revision: str, run: str = "run-1") -> registry.Provenance:
    return registry.Provenance(f"hf://acme/m@{revision}", revision, "d" * 64, run, 1234, 3)


def register(client, revision: str) -> registry.RegisteredVersion:
    return registry.register_version(
        client,
        model_name="llama-small",
        model_uri=f"s3://models/models/llama-small/{revision}/",
        storage_key="my-connection",
        storage_path=f"models/llama-small/{revision}",
        provenance=provenance(revision),
    )


def test_register_is_idempotent_per_revision(registry_url):
    client = registry.connect(endpoint(registry_url))
    first = register(client, "a" * 40)
    assert first.created
    again = register(client, "a" * 40)
    assert not again.created
    assert (again.registered_model_id, again.model_version_id) == (
        first.registered_model_id,
        first.model_version_id,
    )
    second = register(client, "b" * 40)
    assert second.created and second.model_version_id != first.model_version_id
    assert second.registered_model_id == first.registered_model_id

    assert registry.latest_version(client, "llama-small").id == second.model_version_id
    assert (
        registry.version_by_revision(client, "llama-small", "a" * 40).id == first.model_version_id
    )
    assert registry.version_by_revision(client, "llama-small", "c" * 40) is None
    assert registry.latest_version(client, "unknown-model") is None


def test_artifact_and_provenance_as_the_dashboard_expects(registry_url):
    client = registry.connect(endpoint(registry_url))
    ids = register(client, "e" * 40)
    artifact = client.get_model_artifact("llama-small", ids.model_version_name)
    assert artifact.uri == f"s3://models/models/llama-small/{'e' * 40}/"
    assert artifact.model_format_name == "vLLM"
    assert (artifact.storage_key, artifact.storage_path) == (
        "my-connection",
        f"models/llama-small/{'e' * 40}",
    )
    version = client.get_model_version("llama-small", ids.model_version_name)
    props = version.custom_properties
    assert props["source_revision"] == "e" * 40
    assert props["manifest_sha256"] == "d" * 64
    assert props["model_size_bytes"] == 1234
    assert props["pipeline_run_id"] == "run-1"


def test_update_archive_and_paging(registry_url):
    client = registry.connect(endpoint(registry_url))
    for i in range(5):
        register(client, f"{i}" * 40)
    model = client.get_registered_model("llama-small")
    model.description = "a small llama"
    model.state = RegisteredModelState.ARCHIVED
    client.update(model)
    assert client.get_registered_model("llama-small").state == RegisteredModelState.ARCHIVED

    version = client.get_model_version("llama-small", "0" * 12)
    version.state = ModelVersionState.ARCHIVED
    client.update(version)
    assert client.get_model_version("llama-small", "0" * 12).state == ModelVersionState.ARCHIVED

    pager = client.get_model_versions("llama-small").page_size(2)
    names = [v.name for v in pager]
    assert names == [f"{i}" * 12 for i in range(5)]
    newest_first = [
        v.name
        for v in client.get_model_versions("llama-small").order_by_creation_time().descending()
    ]
    assert newest_first == list(reversed(names))


def http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("prefix", ["/api/model_registry/v1", "/api/model_registry/v1alpha3"])
def test_rest_api_shapes_and_errors(registry_url, prefix):
    base = registry_url + prefix
    status, model = http("POST", f"{base}/registered_models", {"name": "m", "owner": "me"})
    assert status == 201
    assert model["state"] == "LIVE" and model["id"].isdigit()
    assert model["createTimeSinceEpoch"].isdigit() and model["lastUpdateTimeSinceEpoch"].isdigit()
    assert http("POST", f"{base}/registered_models", {"name": "m"})[0] == 409
    status, error = http("GET", f"{base}/registered_model?name=absent")
    assert status == 404 and set(error) == {"code", "message"}
    status, error = http("POST", f"{base}/registered_models", {"name": "x", "state": "GONE"})
    assert status == 400 and "['LIVE', 'ARCHIVED']" in error["message"]
    bad_props = {"name": "y", "customProperties": {"k": {"string_value": "v"}}}
    assert http("POST", f"{base}/registered_models", bad_props)[0] == 400

    status, listing = http("GET", f"{base}/registered_models?pageSize=1&orderBy=ID&sortOrder=DESC")
    assert status == 200 and set(listing) == {"items", "nextPageToken", "pageSize", "size"}


def test_serving_environments_and_inference_services(registry_url):
    base = registry_url + "/api/model_registry/v1"
    client = registry.connect(endpoint(registry_url))
    ids = register(client, "f" * 40)
    status, env = http("POST", f"{base}/serving_environments", {"name": "llama-serving"})
    assert status == 201
    service = {
        "name": "llama-small",
        "registeredModelId": ids.registered_model_id,
        "modelVersionId": ids.model_version_id,
        "runtime": "vllm",
    }
    url = f"{base}/serving_environments/{env['id']}/inference_services"
    status, error = http("POST", url, service)
    assert status == 422 and "servingEnvironmentId" in error["message"], "required in the body too"
    status, isvc = http("POST", url, {**service, "servingEnvironmentId": env["id"]})
    assert (
        status == 201
        and isvc["desiredState"] == "DEPLOYED"
        and isvc["servingEnvironmentId"] == env["id"]
    )
    assert (
        http("GET", f"{base}/inference_services/{isvc['id']}/version")[1]["id"]
        == ids.model_version_id
    )
    assert (
        http("GET", f"{base}/inference_services/{isvc['id']}/model")[1]["id"]
        == ids.registered_model_id
    )
    status, found = http(
        "GET", f"{base}/inference_service?name=llama-small&parentResourceId={env['id']}"
    )
    assert status == 200 and found["id"] == isvc["id"]
    status, updated = http(
        "PATCH", f"{base}/inference_services/{isvc['id']}", {"desiredState": "UNDEPLOYED"}
    )
    assert status == 200 and updated["desiredState"] == "UNDEPLOYED"
    missing_env = {
        "name": "x",
        "registeredModelId": ids.registered_model_id,
        "servingEnvironmentId": "999",
    }
    assert http("POST", f"{base}/inference_services", missing_env)[0] == 400


def test_record_deployment_is_idempotent_and_follows_new_versions(registry_url):
    client = registry.connect(endpoint(registry_url))
    v1 = register(client, "1" * 40)
    first = registry.record_deployment(
        endpoint(registry_url), serving_environment="ai", name="llama-small",
        registered_model_id=v1.registered_model_id, model_version_id=v1.model_version_id,
    )  # fmt: skip
    again = registry.record_deployment(
        endpoint(registry_url), serving_environment="ai", name="llama-small",
        registered_model_id=v1.registered_model_id, model_version_id=v1.model_version_id,
    )  # fmt: skip
    assert again == first
    v2 = register(client, "2" * 40)
    moved = registry.record_deployment(
        endpoint(registry_url), serving_environment="ai", name="llama-small",
        registered_model_id=v2.registered_model_id, model_version_id=v2.model_version_id,
    )  # fmt: skip
    assert moved == first
    base = registry_url + "/api/model_registry/v1"
    service = http("GET", f"{base}/inference_services/{first.inference_service_id}")[1]
    assert (service["modelVersionId"], service["desiredState"]) == (v2.model_version_id, "DEPLOYED")
    assert (
        http("GET", f"{base}/inference_services/{first.inference_service_id}/version")[1]["id"]
        == v2.model_version_id
    )
    assert http("GET", f"{base}/serving_environments")[0] == 200
    envs = http("GET", f"{base}/serving_environments")[1]
    assert [e["name"] for e in envs["items"]] == ["ai"]


def test_a_restarted_registry_serves_what_it_stored(tmp_path):
    """`local down` then `up` keeps the SQLite file; the new server must read it (lists first)."""
    from llama_rollout.embedded.registry_server import create_app
    from tests.servers import serve_app

    db = tmp_path / "registry.sqlite"
    with serve_app(create_app(db)) as url:
        first = register(registry.connect(endpoint(url)), "9" * 40)
    with serve_app(create_app(db)) as url:
        client = registry.connect(endpoint(url))
        assert [m.name for m in client.get_registered_models()] == ["llama-small"]
        assert register(client, "9" * 40) == registry.RegisteredVersion(
            **{**first.__dict__, "created": False}
        )


def test_a_registration_that_stopped_halfway_is_completed(registry_url):
    client = registry.connect(endpoint(registry_url))
    revision = "9" * 40
    # What a run killed between the version and its artifact leaves behind.
    model = client.async_runner(client._register_model("llama-small"))
    client.async_runner(
        client._register_new_version(
            model, revision[:12], "someone",
            custom_properties=provenance(revision).as_metadata(),
        )
    )  # fmt: skip
    assert client.get_model_artifact("llama-small", revision[:12]) is None
    ids = register(client, revision)
    assert not ids.created
    artifact = client.get_model_artifact("llama-small", revision[:12])
    assert artifact.id == ids.model_artifact_id
    assert artifact.uri == f"s3://models/models/llama-small/{revision}/"
    assert (artifact.storage_key, artifact.model_format_name) == ("my-connection", "vLLM")


def test_a_bug_is_not_dressed_as_a_registry_error(registry_url, monkeypatch):
    client = registry.connect(endpoint(registry_url))

    def changed_signature(*args, **kwargs):
        raise TypeError("register_model() got an unexpected keyword argument 'storage_key'")

    monkeypatch.setattr(client, "register_model", changed_signature)
    with pytest.raises(TypeError, match="unexpected keyword"):
        register(client, "8" * 40)


def test_registry_errors_name_what_failed(registry_url):
    with pytest.raises(
        RegistryError,
        match=r"connecting to the Model Registry at http://127\.0\.0\.1:9: .*unreachable",
    ):
        registry.connect(endpoint("http://127.0.0.1:9"))


def test_a_run_that_loses_the_race_reads_the_winner_s_version_back(registry_url, monkeypatch):
    revision = "7" * 40
    winner = registry.connect(endpoint(registry_url))
    loser = registry.connect(endpoint(registry_url))
    real_register = loser.register_model

    def the_other_run_gets_there_first(*args, **kwargs):
        # The loser has looked and found nothing; the winner registers before it creates.
        register(winner, revision)
        return real_register(*args, **kwargs)

    monkeypatch.setattr(loser, "register_model", the_other_run_gets_there_first)
    ids = register(loser, revision)
    assert not ids.created
    assert ids == register(winner, revision)
    assert len(list(winner.get_model_versions("llama-small"))) == 1


def test_runs_registering_at_once_all_get_the_one_version(registry_url):
    revision = "6" * 40
    clients = [registry.connect(endpoint(registry_url)) for _ in range(4)]
    barrier = threading.Barrier(len(clients))

    def run(client):
        barrier.wait()
        return register(client, revision)

    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(run, clients))
    assert len({r.model_version_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert len(list(clients[0].get_model_versions("llama-small"))) == 1


@pytest.mark.parametrize("recorded", [None, "f" * 40])
def test_a_version_this_pipeline_did_not_make_is_refused_with_its_id(registry_url, recorded):
    client = registry.connect(endpoint(registry_url))
    revision = "5" * 40
    model = client.async_runner(client._register_model("llama-small"))
    properties = {"source_revision": recorded} if recorded else {}
    foreign = client.async_runner(
        client._register_new_version(model, revision[:12], "someone", custom_properties=properties)
    )
    with pytest.raises(RegistryError) as caught:
        register(client, revision)
    message = str(caught.value)
    assert f"version '{revision[:12]}' (id {foreign.id})" in message
    assert "did not register for revision" in message
    assert (repr(recorded) if recorded else "not set") in message
    assert "--model-name" in message and "llama-small-2" in message
    assert client.get_model_artifact("llama-small", revision[:12]) is None, "left as it was"
    assert len(list(client.get_model_versions("llama-small"))) == 1
