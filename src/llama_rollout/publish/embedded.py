"""Publishing on the embedded stack: the same merge, into an OLSConfig kept as a file.

There is no Lightspeed on a laptop, so the embedded stack keeps OLSConfig ``cluster`` in its
state folder, first written from the sample below (the seed's OpenAI and Gemini providers).
A publication merges into it exactly as on a cluster, is validated against the real CRD's
schema (the copy shipped in this package), and is checked the way Lightspeed's readiness
probe checks a provider: a chat completion to the provider's URL with the model's name and
the credential. Only then is the file replaced (atomically): a failed check leaves the
previous OLSConfig in place, as a cluster run restores it.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llama_rollout.bounds import VLLM
from llama_rollout.embedded.secrets import write_secret
from llama_rollout.embedded.service_accounts import NAMESPACE, Identity
from llama_rollout.embedded.stack import EmbeddedStack
from llama_rollout.errors import RolloutError
from llama_rollout.json_http import request_json
from llama_rollout.kube.identity import service_account
from llama_rollout.kube.schemas import check_against, load_crd
from llama_rollout.mcp_server.access import client_token
from llama_rollout.publish import olsconfig
from llama_rollout.publish.olsconfig import API_VERSION, KIND, MCP_HEADER_KEY, NAME, Publication
from llama_rollout.publish.record import record_on_version, write_files
from llama_rollout.publish.request import NO_AUTH_CREDENTIAL, Outcome, PublishRequest
from llama_rollout.redaction import excerpt

logger = logging.getLogger(__name__)

CRD_FILE = Path(__file__).resolve().parent.parent / "embedded" / "ols.openshift.io_olsconfigs.yaml"
READINESS_QUESTION = "Hello there!"  # what Lightspeed's /readiness sends its default model

SAMPLE: dict[str, Any] = {
    "apiVersion": API_VERSION,
    "kind": KIND,
    "metadata": {"name": NAME},
    "spec": {
        "llm": {
            "providers": [
                {
                    "name": "openai",
                    "type": "openai",
                    "url": "https://api.openai.com/v1",
                    "credentialsSecretRef": {"name": "openai-credentials"},
                    "models": [{"name": "gpt-4"}],
                },
                {
                    "name": "gemini",
                    "type": "openai",
                    "url": "https://generativelanguage.googleapis.com/v1beta/openai",
                    "credentialsSecretRef": {"name": "gemini-credentials"},
                    "models": [{"name": "gemini-pro"}],
                },
            ]
        },
        "ols": {"defaultProvider": "openai", "defaultModel": "gpt-4"},
    },
}


def olsconfig_file(state_root: Path) -> Path:
    return state_root / "lightspeed" / "olsconfig.yaml"


def read(path: Path) -> dict[str, Any]:
    """The embedded OLSConfig; the sample when none was written yet."""
    if not path.exists():
        return copy.deepcopy(SAMPLE)
    return yaml.safe_load(path.read_text())


def crd() -> dict[str, Any]:
    return load_crd(CRD_FILE)


@dataclass(frozen=True)
class EmbeddedPublication:
    """What a publication did to the embedded OLSConfig."""

    before: dict[str, Any]
    after: dict[str, Any]
    patch: dict[str, Any]
    answer: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def check_provider(provider: olsconfig.Provider, credential: str) -> str:
    """Ask the provider as Lightspeed's readiness probe asks its default; the answer.

    Raises:
        RolloutError: the provider refused or failed the question.
    """
    status, answer = request_json(
        "POST",
        f"{provider.url.rstrip('/')}/chat/completions",
        {
            "model": provider.model,
            "messages": [{"role": "user", "content": READINESS_QUESTION}],
            "max_tokens": 32,
            "temperature": 0.01,
        },
        bound=VLLM,
        what=f"provider {provider.name}",
        token=credential,
    )
    try:
        return str(answer["choices"][0]["message"]["content"]).strip()
    except (TypeError, KeyError, IndexError):
        raise RolloutError(
            f"provider {provider.name} at {provider.url} answered {status} to Lightspeed's "
            f"readiness question for model {provider.model}: {excerpt(answer, 200)}",
            hint="the provider's URL or model name is not what the endpoint serves",
        ) from None


def write_provider(path: Path, publication: Publication, *, credential: str) -> EmbeddedPublication:
    """Merge, validate, check, then write the embedded OLSConfig at ``path``."""
    before = read(path)
    definition = crd()
    schema = definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = olsconfig.merged_spec(
        before["spec"], publication, mcp_shape=olsconfig.mcp_shape_of(schema)
    )
    after = {**copy.deepcopy(before), "spec": spec}
    check_against(definition, after)
    answer = check_provider(publication.provider, credential)
    if after != before or not path.exists():
        _write_atomically(path, after)
    return EmbeddedPublication(before, after, olsconfig.spec_patch(before, after), answer)


def _write_atomically(path: Path, obj: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as out:
        yaml.safe_dump(obj, out, sort_keys=False)
    os.replace(out.name, path)


def publish(request: PublishRequest, output_dir: Path) -> Outcome:
    """The publish step on the embedded stack: the provider merged into the stack's OLSConfig
    file, checked as Lightspeed would, and recorded on the ModelVersion."""
    publication = request.publication()
    stack = EmbeddedStack()
    path = olsconfig_file(stack.root)
    # Lightspeed's identity: the token the stack's authority minted for its service account.
    account = service_account(request.namespace or NAMESPACE, request.service_account)
    credential = (
        stack.tokens.token(Identity.of_principal(account))
        if request.requires_token
        else NO_AUTH_CREDENTIAL
    )
    server = publication.mcp_server
    if server is not None and server.header_secret:
        token = client_token(request.namespace or NAMESPACE, request.mcp_token_secret)
        header = olsconfig.mcp_header(token or "")
        write_secret(stack.secrets_dir, server.header_secret, MCP_HEADER_KEY, header)
    done = write_provider(path, publication, credential=credential)
    files = write_files(output_dir, done.before, done.after)
    summary = olsconfig.summary_line(publication)
    logger.info(
        "embedded OLSConfig (%s): %s (%s)",
        path,
        summary,
        "written" if done.changed else "already so",
    )
    logger.info(
        "provider %s answered Lightspeed's readiness question: %r",
        publication.provider.name,
        done.answer[:80],
    )
    record_on_version(
        request, publication, serving_name=request.serving_name or request.serving_model
    )
    return Outcome(summary, done.changed, files, answer=done.answer)
