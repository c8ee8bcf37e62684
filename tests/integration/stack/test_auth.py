"""A real Llama Stack 0.7.3 with this project's auth, against the embedded token authority:
who gets in, and to which routes.

The expectations are written out here, path by path, rather than read from ``stack.access``:
a mistake in the policy must show up as a wrong status, not agree with itself.
"""

from __future__ import annotations

import pytest
import requests
import yaml

from llama_rollout.embedded import processes
from llama_rollout.embedded.service_accounts import Identity
from llama_rollout.embedded.stack import EmbeddedStack
from llama_rollout.stack import health as stack_health
from llama_rollout.stack.access import StackClients, auth_config
from llama_rollout.stack.config import stack_config
from llama_rollout.stack.embedded import llama_command
from tests.servers import start_token_authority

pytestmark = pytest.mark.integration

RUNNER = Identity.of_service_account("ai", "pipeline-runner-dspa")
LIGHTSPEED = Identity.of_service_account("ai", "lightspeed-model-client")
WORKBENCH = Identity.of_service_account("team", "notebook")
AUDITOR = Identity.of_user("alice", ("llama-stack-auditors",))
STRANGER = Identity.of_service_account("ai", "default")  # same namespace, not listed
ELSEWHERE = Identity.of_service_account("other", "pipeline-runner-dspa")  # the runner's name

ROUTES = (
    "/v1/models",
    "/v1/chat/completions",
    "/v1/responses",
    f"/v1/conversations/conv_{'0' * 48}",
    "/v1/files",
)
# (caller, route) -> status; 200 where the caller may list, 404 where it may reach a route
# whose record does not exist.
EXPECTED = {
    "runner": (200, 200, 200, 403, 403),
    "lightspeed": (200, 200, 403, 403, 403),
    "workbench": (200, 200, 200, 404, 403),
    "auditor": (403, 200, 403, 403, 403),
    "stranger": (403, 403, 403, 403, 403),
    "elsewhere": (403, 403, 403, 403, 403),
}
IDENTITIES = {
    "runner": RUNNER,
    "lightspeed": LIGHTSPEED,
    "workbench": WORKBENCH,
    "auditor": AUDITOR,
    "stranger": STRANGER,
    "elsewhere": ELSEWHERE,
}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """(Llama Stack's URL, each caller's token): the stack admits the runner, Lightspeed, the
    workbench and the auditors' group; vLLM is not there (the routes answer without it)."""
    root = tmp_path_factory.mktemp("guarded")
    stack = EmbeddedStack(root / "state")
    tokens = {name: stack.tokens.token(identity) for name, identity in IDENTITIES.items()}
    authority = start_token_authority(stack)
    clients = StackClients(
        pipeline=RUNNER.username,
        lightspeed=LIGHTSPEED.username,
        workbench=WORKBENCH.username,
        auditors="llama-stack-auditors",
    )
    config = stack_config(
        distro_name="guarded", vllm_url="http://127.0.0.1:9/v1", storage_dir=str(root / "ls"),
        host="127.0.0.1", auth=auth_config(clients, api_server_url=authority),
    )  # fmt: skip
    config_file = root / "config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    stack.start_process(
        "llama-stack",
        [*llama_command(), "stack", "run", str(config_file), "--port", str(port)],
        url=url, health_url=f"{url}/v1/health",
        ready=lambda: processes.http_ok(f"{url}/v1/health"), timeout=180,
        env={"SQLITE_STORE_DIR": str(root / "store")},
    )  # fmt: skip
    yield url, tokens
    stack.down()


def status(url: str, route: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(f"{url}{route}", headers=headers, timeout=30).status_code


def test_health_and_version_are_open_and_nothing_else_is_without_a_token(guarded):
    url, _ = guarded
    assert status(url, "/v1/health", None) == 200
    assert status(url, "/v1/version", None) == 200
    for route in ROUTES:
        assert status(url, route, None) == 401, route
        assert status(url, route, "not-a-token") == 401, route
    # The authority was asked, and said no (were it down, the message would say so instead).
    refused = requests.get(f"{url}/v1/models", headers={"Authorization": "Bearer nope"}, timeout=30)
    assert refused.json()["error"]["message"] == "Token validation error: Invalid token"


@pytest.mark.parametrize("caller", EXPECTED)
def test_each_caller_reaches_its_routes_and_no_others(guarded, caller):
    url, tokens = guarded
    seen = tuple(status(url, route, tokens[caller]) for route in ROUTES)
    assert dict(zip(ROUTES, seen, strict=True)) == dict(zip(ROUTES, EXPECTED[caller], strict=True))


def test_a_refused_step_is_told_why(guarded, monkeypatch, tmp_path):
    url, tokens = guarded
    token_file = tmp_path / "token"
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(token_file))
    token_file.write_text(tokens["stranger"])
    with pytest.raises(
        stack_health.StackRefused, match=r"refused this step's call to /v1/models \(403"
    ):
        stack_health.listed_models(url)
    token_file.write_text("not-a-token")
    with pytest.raises(stack_health.StackRefused, match=r"\(401"):
        stack_health.check_server(url, "vllm/llama")
    token_file.write_text(tokens["runner"])
    assert stack_health.listed_models(url) == []  # admitted; vLLM is not there
