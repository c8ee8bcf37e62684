"""The embedded registry keeps the upstream API contract under generated requests.

Schemathesis generates requests for every operation of the official OpenAPI file, valid ones
and malformed ones, and sends them to the embedded registry over HTTP. Whatever comes in, the
answer is never a 5xx, and its status is one the operation declares (or the 400/422 the real
server's generated handlers give malformed input everywhere). Every response body is checked
against its schema by the server itself, which answers 500 when it would break it; the check
honours the spec's discriminators, which schemathesis' own schema check does not (it finds an
artifact "valid under more than one" of the oneOf branches, as the real server's would be).
"""

from __future__ import annotations

import json

import pytest
import schemathesis
import urllib3
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig

from llama_rollout.embedded.registry_contract import ALWAYS_ALLOWED, SPEC_PREFIX, RegistryContract
from llama_rollout.embedded.registry_server import create_app
from tests.servers import serve_app

pytestmark = pytest.mark.integration

CONTRACT = RegistryContract()
CONFIG = SchemathesisConfig.from_dict(
    {"generation": {"mode": "all", "deterministic": True, "database": "none"}}
)
SCHEMA = schemathesis.openapi.from_dict(CONTRACT.spec, config=CONFIG)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    with serve_app(create_app(tmp_path_factory.mktemp("contract") / "registry.sqlite")) as url:
        for name in ("seed-model", "other-model"):  # something for ids and names to hit
            urllib3.request(
                "POST", f"{url}{SPEC_PREFIX}/registered_models", body=json.dumps({"name": name})
            )
        yield url


@SCHEMA.include(path_regex=f"^{SPEC_PREFIX}/(?!experiment)").parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_the_contract_under_generated_requests(case, registry):
    response = case.call(base_url=registry, timeout=10)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
    if case.method.upper() != case.operation.method.upper():  # a method the path does not have
        assert response.status_code == 405
        return
    declared = CONTRACT.operation(
        case.method.upper(), case.operation.path.removeprefix(SPEC_PREFIX)
    )
    assert response.status_code in set(declared[0].responses) | ALWAYS_ALLOWED
    case.validate_response(response, checks=[checks.content_type_conformance])


def call(url: str, method: str, path: str, body: object | None = None) -> tuple[int, object]:
    response = urllib3.request(
        method, url + SPEC_PREFIX + path,
        body=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    try:
        return response.status, json.loads(response.data)
    except ValueError:
        return response.status, response.data.decode()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        # The audit's examples: each got a 500 or a 2xx before.
        ("POST", "/model_versions", {"registeredModelId": "1", "name": [None, None]}, 400, "name"),
        ("POST", "/registered_models", {"name": ""}, 422, "required field 'name'"),
        ("POST", "/registered_models", {"name": "m", "state": "UNKNOWN"}, 400, "state"),
        ("GET", "/registered_models/0", None, 404, "no resource"),
        (
            "POST",
            "/registered_models",
            {"name": "m", "colour": "red"},
            400,
            'unknown field "colour"',
        ),
        ("POST", "/model_versions", {"name": "v1"}, 422, "registeredModelId"),
        ("GET", "/registered_models?pageSize=0", None, 400, "pageSize"),
        ("DELETE", "/registered_models/1", None, 405, ""),
        ("GET", "/no_such_collection", None, 404, "404 page not found"),
    ],
)
def test_malformed_requests_get_the_real_server_s_answer(
    registry, method, path, body, status, says
):
    got, answer = call(registry, method, path, body)
    assert got == status, answer
    assert says in (answer if isinstance(answer, str) else answer["message"])
    if isinstance(answer, dict):
        assert set(answer) == {"code", "message"}
