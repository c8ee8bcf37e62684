"""Is the source's revision already live? The question a scheduled run asks first.

The live version is the one whose publication is current in the Model Registry
(``registry.publications``). A run has nothing to do when that version is the source's
current revision, its endpoint answers with its model, the InferenceService is Ready (on a
cluster), and OLSConfig still names the same provider, URL and model (and, on a cluster,
Lightspeed's app server and cache are ready, ``rollout.serving_problem``: other components
such as the console plugin may stay NotReady for good without it mattering). Any other
answer, or ``force``, runs every step, and the reason says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llama_rollout.bounds import VLLM_PROBE
from llama_rollout.embedded.stack import EmbeddedStack
from llama_rollout.errors import RolloutError
from llama_rollout.json_http import request_json
from llama_rollout.kube import Kube, api_client, current_namespace
from llama_rollout.kube.identity import service_account_token
from llama_rollout.publish import embedded, lightspeed, olsconfig, rollout
from llama_rollout.registry import connect
from llama_rollout.registry.publications import LiveVersion, live_version
from llama_rollout.targets import Target

if TYPE_CHECKING:
    from llama_rollout.kube.client import Kube
    from llama_rollout.registry.endpoint import RegistryReference

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveCheck:
    """The verdict: whether the heavy steps run, and why."""

    changed: bool
    reason: str
    live_version: str = ""


def verdict(
    live: LiveVersion | None,
    revision: str,
    provider: str,
    *,
    force: bool,
    problems: list[str],
) -> LiveCheck:
    """The decision from what was found (pure, for the tests and the step)."""
    if force:
        return LiveCheck(True, "force is set: every step runs")
    if live is None:
        return LiveCheck(True, "no version of this model is published yet")
    if live.revision != revision:
        return LiveCheck(
            True,
            f"the source moved from {live.revision[:12]} (live version "
            f"{live.name}) to {revision[:12]}",
            live.name,
        )
    if live.record.provider != provider:
        return LiveCheck(
            True,
            f"version {live.name} is published as provider {live.record.provider}, not {provider}",
            live.name,
        )
    if problems:
        return LiveCheck(
            True,
            f"revision {revision[:12]} is live but {'; '.join(problems)}: deploying it again",
            live.name,
        )
    return LiveCheck(
        False,
        f"nothing changed: revision {revision[:12]} (version {live.name}) is live, served at "
        f"{live.record.url} and published to Lightspeed as provider {live.record.provider}",
        live.name,
    )


def endpoint_problem(url: str, model: str) -> str | None:
    """Why the published endpoint does not serve ``model`` (None when it does), asked as the
    pipeline's runner: Llama Stack checks its token, on either target."""
    try:
        status, answer = request_json(
            "GET",
            f"{url.rstrip('/')}/models",
            bound=VLLM_PROBE,
            what="the published endpoint",
            token=service_account_token(),
        )
    except RolloutError as exc:
        return f"its endpoint does not answer ({exc.message})"
    ids = [m.get("id") for m in answer.get("data", [])] if isinstance(answer, dict) else []
    if status in (401, 403):
        return f"its endpoint {url} refused this step's token (HTTP {status})"
    if status != 200 or model not in ids:
        return f"its endpoint {url} does not list model {model} (HTTP {status})"
    return None


def olsconfig_problem(spec: dict, live: LiveVersion) -> str | None:
    """Why OLSConfig no longer publishes the live version (None when it does)."""
    entry = olsconfig.provider_named(spec, live.record.provider)
    if entry is None:
        return f"OLSConfig has no provider {live.record.provider} any more"
    models = [m.get("name") for m in entry.get("models") or []]
    if entry.get("url") != live.record.url or live.record.model not in models:
        return f"OLSConfig's provider {live.record.provider} points elsewhere ({entry.get('url')})"
    return None


def check_embedded(live: LiveVersion, state_root: Path) -> list[str]:
    """What is wrong with the live version on the embedded stack."""
    problems = [endpoint_problem(live.record.url, live.record.model)]
    problems.append(
        olsconfig_problem(embedded.read(embedded.olsconfig_file(state_root))["spec"], live)
    )
    return [p for p in problems if p]


def check_cluster(live: LiveVersion, namespace: str, *, kube: Kube) -> list[str]:
    """What is wrong with the live version on the cluster."""
    problems: list[str | None] = []
    name = live.record.serving_name
    isvc = kube.get("serving.kserve.io/v1beta1", "InferenceService", name, namespace)
    conditions = {
        c.get("type"): c.get("status")
        for c in ((isvc or {}).get("status") or {}).get("conditions") or []
    }
    if isvc is None:
        problems.append(f"InferenceService {namespace}/{name} is gone")
    elif conditions.get("Ready") != "True":
        problems.append(f"InferenceService {namespace}/{name} is not Ready")
    obj = lightspeed.read(kube)
    if obj is None:
        problems.append("OLSConfig cluster is gone")
    else:
        problems.append(olsconfig_problem(obj.get("spec") or {}, live))
        # The publication's own rule: a console plugin NotReady for good is no reason to
        # deploy the model again on every scheduled run.
        if problem := rollout.serving_problem(obj):
            problems.append(f"Lightspeed does not serve ({problem})")
    found = [p for p in problems if p]
    # The endpoint is asked last, and only when the rest is well: its answer takes longest.
    return found or [p for p in [endpoint_problem(live.record.url, live.record.model)] if p]


def compare(
    *,
    target: Target,
    model_name: str,
    revision: str,
    provider: str,
    force: bool,
    registry: RegistryReference,
    namespace: str = "",
) -> LiveCheck:
    """Compare the source's revision with the live version, and check its health."""
    if force:
        return verdict(None, revision, provider, force=True, problems=[])

    client = connect(registry.endpoint())
    live = live_version(client, model_name)
    problems: list[str] = []
    if live is not None and live.revision == revision:
        if target is Target.LOCAL:
            problems = check_embedded(live, EmbeddedStack().root)
        else:
            problems = check_cluster(
                live,
                namespace or current_namespace(),
                kube=Kube(api_client()),
            )
    check = verdict(live, revision, provider, force=False, problems=problems)
    logger.info("%s", check.reason)
    return check
