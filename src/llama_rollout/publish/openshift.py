"""Blue/green on OpenShift: the new version published under the Lease, then the old retired.

Each version is served by its own InferenceService (``<model>-<revision[:7]>``) and Llama
Stack (``<name>-<revision[:7]>``), so the new one comes up and is evaluated beside the old,
which keeps serving Lightspeed meanwhile. Only after the gate passed and Lightspeed answers
through the new provider does OLSConfig point at it; then the versions it replaced are
removed, newest kept first, up to ``keep_versions``. A failed gate never reaches this step,
and a failed publication restores OLSConfig, so the old version stays serving and published.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import Any

from llama_rollout.kube import Kube, KubeError, api_client, current_namespace
from llama_rollout.kube.identity import service_account_token
from llama_rollout.kube.trust import service_ca
from llama_rollout.mcp_server.access import client_token
from llama_rollout.publish import lease
from llama_rollout.publish.lightspeed import LIGHTSPEED_URL, ClusterPublish
from llama_rollout.publish.olsconfig import API_VERSION, KIND, NAME, summary_line
from llama_rollout.publish.record import record_on_version, write_files
from llama_rollout.publish.request import NO_AUTH_CREDENTIAL, Outcome, PublishRequest
from llama_rollout.registry.publications import (
    PUBLISHED,
    REMOVED,
    LiveVersion,
    mark,
    published_versions,
)
from llama_rollout.serving.objects import owned_objects as serving_objects
from llama_rollout.stack.objects import owned_objects as stack_objects

logger = logging.getLogger(__name__)
SERVICE_ACCOUNT_ANNOTATION = "kubernetes.io/service-account.name"  # on a token Secret

LEASE_MARGIN = 300  # seconds beyond the rollout's timeout: the Secret, the merge, the question


def token_from_secret(kube: Kube, namespace: str, name: str, account: str) -> str:
    """The ``token`` of ``account``'s service-account token Secret (manifests/lightspeed-publisher).

    Raises:
        KubeError: the Secret is missing, belongs to another service account (whose calls
            Llama Stack would refuse), or the token controller has not filled it.
    """
    secret = kube.get("v1", "Secret", name, namespace) or {}
    owner = ((secret.get("metadata") or {}).get("annotations") or {}).get(
        SERVICE_ACCOUNT_ANNOTATION
    )
    token = (secret.get("data") or {}).get("token")
    if secret and owner != account:
        raise KubeError(
            f"Secret {namespace}/{name} holds the token of service account {owner!r}, not of "
            f"{account!r}, whom Llama Stack and vLLM admit as Lightspeed",
            hint="give lightspeed_token_secret the token Secret of lightspeed_service_account "
            "(manifests/lightspeed-publisher makes both)",
        )
    if not token:
        raise KubeError(
            f"Secret {namespace}/{name} has no service-account token for Lightspeed to call the "
            "model with",
            hint="apply manifests/lightspeed-publisher (it creates the ServiceAccount and its "
            "token Secret); the token controller fills the Secret within seconds",
        )
    return base64.b64decode(token).decode()


def remove_version(kube: Kube, namespace: str, version: LiveVersion) -> list[str]:
    """Delete a replaced version's InferenceService and Llama Stack; what was deleted."""
    deleted = []
    record = version.record
    objects = serving_objects(record.serving_name) if record.serving_name else []
    objects += stack_objects(record.stack_name) if record.stack_name else []
    for api_version, kind, name in objects:
        if kube.serves(api_version, kind) and kube.delete(api_version, kind, name, namespace):
            deleted.append(f"{kind} {namespace}/{name}")
    logger.info("removed version %s: %s", version.name, ", ".join(deleted) or "nothing was left")
    return deleted


def retire_replaced(
    kube: Kube, client: Any, request: PublishRequest, namespace: str
) -> tuple[str, ...]:
    """Remove the replaced versions beyond the newest ``keep_versions``; their names."""
    replaced = [
        v
        for v in published_versions(client, request.model_name)
        if v.name != request.model_version_name and v.record.state not in (PUBLISHED, REMOVED)
    ]
    removed = []
    for version in replaced[request.keep_versions :]:
        if version.record.serving_name == request.serving_name:
            continue  # the same objects serve the new version: nothing to remove
        remove_version(kube, namespace, version)
        mark(client, request.model_name, version, REMOVED)
        removed.append(version.name)
    return tuple(removed)


def publish(
    request: PublishRequest, output_dir: Path, *, kube: Kube | None = None, token: str | None = None
) -> Outcome:
    """The publish step on OpenShift: published under the Lease, the replaced versions
    retired; the outcome and its files."""
    kube = kube or Kube(api_client())
    namespace = request.namespace or current_namespace()
    publication = request.publication()
    credential = (
        token_from_secret(kube, namespace, request.token_secret, request.service_account)
        if request.requires_token
        else NO_AUTH_CREDENTIAL
    )
    mcp_token = client_token(namespace, request.mcp_token_secret, kube=kube)
    # The project too: the Lease is shared by the runs of every project on the cluster.
    holder = f"{namespace}/{request.run_id or f'pid-{os.getpid()}'}"
    with lease.held(kube, holder, seconds=request.timeout_seconds + LEASE_MARGIN):
        written, answer = ClusterPublish(
            kube,
            publication,
            credential,
            timeout=request.timeout_seconds,
            lightspeed_url=request.lightspeed_url or LIGHTSPEED_URL,
            token=(service_account_token() or "") if token is None else token,
            ca_certs=service_ca(),
            create_missing=request.create_missing,
            mcp_token=mcp_token,
        ).run()
        logger.info(
            "Lightspeed answered through provider %s: %r", publication.provider.name, answer[:80]
        )
        shell = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": NAME}}
        files = write_files(
            output_dir, {**shell, "spec": written.before}, {**shell, "spec": written.after}
        )
        client = record_on_version(request, publication, serving_name=request.serving_name)
        retired = retire_replaced(kube, client, request, namespace) if client else ()
    return Outcome(summary_line(publication), written.changed, files, retired, answer)
