"""The deployment record in the Model Registry: a serving environment (the namespace) and a
DEPLOYED inference service, over the REST API (the official client has no calls for them)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import urllib3

from llama_rollout.bounds import CONNECT, REGISTRY, EndpointSilent
from llama_rollout.deadline import bounded_pools
from llama_rollout.errors import RegistryError, first_line
from llama_rollout.redaction import excerpt
from llama_rollout.registry.endpoint import RegistryEndpoint

logger = logging.getLogger(__name__)

API_PREFIX = "/api/model_registry/v1"


@dataclass(frozen=True)
class DeploymentRecord:
    serving_environment_id: str
    inference_service_id: str


def record_deployment(
    endpoint: RegistryEndpoint,
    *,
    serving_environment: str,
    name: str,
    registered_model_id: str,
    model_version_id: str,
    runtime: str = "vllm",
) -> DeploymentRecord:
    """Record a deployment: serving environment (namespace) and a DEPLOYED inference service.

    The official client has no calls for these, so this speaks the REST API directly. It is
    idempotent: the environment and the service are found by name and updated in place.

    Args:
        endpoint: the registry.
        serving_environment: the namespace the model is served in.
        name: the inference service's name in the registry.
        registered_model_id: the served RegisteredModel.
        model_version_id: the served ModelVersion.
        runtime: the serving runtime.
    """
    rest = _RegistryRest(endpoint)
    env = rest.find("serving_environment", name=serving_environment) or rest.send(
        "POST", "/serving_environments", {"name": serving_environment}
    )
    wanted = {"modelVersionId": model_version_id, "runtime": runtime, "desiredState": "DEPLOYED"}
    service = rest.find("inference_service", name=name, parentResourceId=env["id"])
    if service is None:
        service = rest.send(
            "POST",
            f"/serving_environments/{env['id']}/inference_services",
            {
                "name": name,
                "registeredModelId": registered_model_id,
                "servingEnvironmentId": env["id"],
                **wanted,
            },
        )
    elif (
        any(service.get(k) != v for k, v in wanted.items())
        or service.get("registeredModelId") != registered_model_id
    ):
        if service.get("registeredModelId") != registered_model_id:
            raise RegistryError(
                f"inference service {name} in {serving_environment} already serves registered model "
                f"{service.get('registeredModelId')}, not {registered_model_id}",
                hint="choose another InferenceService name, or archive the old record",
            )
        service = rest.send("PATCH", f"/inference_services/{service['id']}", wanted)
    logger.info(
        "registry: inference service %s (id %s) in serving environment %s serves version %s",
        name,
        service["id"],
        serving_environment,
        model_version_id,
    )
    return DeploymentRecord(str(env["id"]), str(service["id"]))


class _RegistryRest:
    def __init__(self, endpoint: RegistryEndpoint) -> None:
        self.base = endpoint.url + API_PREFIX
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if endpoint.secure and endpoint.token:
            self.headers["Authorization"] = f"Bearer {endpoint.token}"
        # A connection that fails is tried again, an answer that never comes is not; an answer
        # that comes too slowly ends with the request's total (``deadline``).
        self.pool = bounded_pools(
            urllib3.PoolManager(
                retries=urllib3.Retry(connect=2, read=0, status=0, other=0, backoff_factor=0.5),
                timeout=urllib3.Timeout(connect=CONNECT, read=REGISTRY.read),
                ca_certs=endpoint.ca_bundle,
            )
        )

    def send(
        self, method: str, path: str, body: dict[str, Any] | None = None, **query: str
    ) -> dict[str, Any]:
        url = self.base + path + (f"?{urlencode(query)}" if query else "")
        payload = json.dumps(body).encode() if body is not None else None
        try:
            response = self.pool.request(method, url, body=payload, headers=self.headers)
        except urllib3.exceptions.HTTPError as exc:
            cause = getattr(exc, "reason", None) or exc
            silent = isinstance(cause, urllib3.exceptions.TimeoutError) and not isinstance(
                cause,
                urllib3.exceptions.NewConnectionError,  # a kind of ConnectTimeoutError
            )
            if silent:
                raise EndpointSilent("the Model Registry", self.base, REGISTRY.total) from exc
            raise RegistryError(
                f"Model Registry unreachable at {self.base}: {first_line(exc)}"
            ) from exc
        if response.status >= 400:
            raise _RestStatus(
                response.status,
                f"{method} {path}: {excerpt(response.data.decode(errors='replace'), 300)}",
            )
        try:
            return json.loads(response.data)
        except ValueError as exc:
            raise RegistryError(
                f"{self.base} answered {method} {path} with something that is not JSON",
                hint="give the registry's REST URL (registry_url), or its name (registry_name)",
            ) from exc

    def find(self, singular: str, **query: str) -> dict[str, Any] | None:
        try:
            return self.send("GET", f"/{singular}", None, **query)
        except _RestStatus as exc:
            if exc.status == 404:
                return None
            raise


class _RestStatus(RegistryError):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"the Model Registry answered {status} to {message}")
