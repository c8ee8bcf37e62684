"""Kubernetes access on the official client: server-side apply, discovery, explained waits.

* ``apply`` is server-side apply with a named field manager: re-applying an unchanged object
  is a no-op on the server (no new resourceVersion, no new generation), and fields other
  managers own (a controller's status, a user's label) are left alone.
* ``serves`` asks discovery whether a kind exists, so callers can pick the operator path or a
  fallback before applying anything.
* ``wait_until`` polls a readiness check and stops at the first failure it can name; at the
  deadline it reports the last state it saw. ``pod_problems`` explains pods that cannot run:
  crash loops (with the last log line), image pulls, unschedulable pods.
* API errors become messages that say what to do; a 403 names the missing permission.

Inside a pipeline step the in-cluster service account is used; elsewhere the kubeconfig.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from llama_rollout.errors import RolloutError

logger = logging.getLogger(__name__)

FIELD_MANAGER = "llama-rollout"
PARTIAL_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path
_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]+)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]+)" '
    r'in API group "(?P<group>[^"]*)"(?: in the namespace "(?P<namespace>[^"]+)")?'
)


class KubeError(RolloutError):
    """The Kubernetes API refused a request or a workload did not become ready."""


class PermissionDenied(KubeError):
    """A 403: the service account lacks a permission."""


class NotReady(KubeError):
    """A workload failed, or did not become ready before the deadline."""


@dataclass(frozen=True)
class Readiness:
    """One look at a workload: ready, failed (with why), or still waiting (with what)."""

    ready: bool = False
    failure: str | None = None
    state: str = ""


@dataclass(frozen=True)
class PodProblem:
    """Why a pod cannot run; ``may_pass`` when it can still resolve itself (an autoscaler
    adding a GPU node for an unschedulable pod)."""

    message: str
    may_pass: bool = False


class Patience:
    """How long a problem that may pass is allowed to last before it is a failure."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._since: float | None = None

    def exhausted(self, present: bool) -> bool:
        if not present:
            self._since = None
            return False
        if self._since is None:
            self._since = time.monotonic()
        return time.monotonic() - self._since >= self.seconds


def api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """An ApiClient: in-cluster config inside a pod, the kubeconfig elsewhere."""
    from kubernetes import client, config

    if (
        kubeconfig is None
        and os.environ.get("KUBERNETES_SERVICE_HOST")
        and os.path.exists(IN_CLUSTER_TOKEN)
    ):
        config.load_incluster_config()
        return client.ApiClient()
    try:
        return config.new_client_from_config(config_file=kubeconfig, context=context)
    except (config.ConfigException, OSError) as exc:
        raise KubeError(
            f"no Kubernetes configuration: {exc}",
            hint="log in with `oc login` (or set KUBECONFIG), or run inside the cluster",
        ) from exc


def current_namespace() -> str:
    """The namespace this pod runs in (its service account's), or '' outside a cluster."""
    try:
        with open(os.path.join(os.path.dirname(IN_CLUSTER_TOKEN), "namespace")) as fh:
            return fh.read().strip()
    except OSError:
        return ""


class Kube:
    """The cluster, through the official client's dynamic API.

    Args:
        client: an ``ApiClient`` (see :func:`api_client`).
        field_manager: the server-side apply field manager.
    """

    def __init__(self, client: Any, *, field_manager: str = FIELD_MANAGER) -> None:
        from kubernetes.dynamic import DynamicClient

        self.api = client
        self.field_manager = field_manager
        # The client caches discovery in a file under /tmp named after the API's URL, which
        # outlives this process: a kind served then and gone since (or a fake API on a port
        # another one used) would still look served. Each Kube discovers afresh.
        self._discovery_cache = tempfile.TemporaryDirectory(prefix="llama-rollout-discovery-")
        with translated_errors("discover the API"):
            self.dynamic = DynamicClient(
                client, cache_file=os.path.join(self._discovery_cache.name, "discovery.json")
            )

    def resource(self, api_version: str, kind: str) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError as exc:
            raise KubeError(
                f"the cluster does not serve {kind} ({api_version})",
                hint=f"install the operator that provides {kind}, or check the cluster you are logged in to",
            ) from exc

    def serves(self, api_version: str, kind: str) -> bool:
        """True when discovery lists the kind (its CRD is installed)."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            return False
        return True

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply ``obj`` (taking over conflicting fields) and return the result."""
        meta = obj["metadata"]
        resource = self.resource(obj["apiVersion"], obj["kind"])
        what = f"apply {obj['kind']} {meta.get('namespace', '') + '/' if meta.get('namespace') else ''}{meta['name']}"
        with translated_errors(what):
            result = self.dynamic.server_side_apply(
                resource,
                body=obj,
                name=meta["name"],
                namespace=meta.get("namespace"),
                field_manager=self.field_manager,
                force_conflicts=True,
            )
        return result.to_dict()

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        return self._get(api_version, kind, name, namespace)

    def metadata_of(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """Only the object's metadata (a PartialObjectMetadata), or None when it does not exist:
        a Secret's labels and annotations without its data ever leaving the API server."""
        obj = self._get(api_version, kind, name, namespace, accept=PARTIAL_METADATA)
        return None if obj is None else obj.get("metadata") or {}

    def _get(
        self, api_version: str, kind: str, name: str, namespace: str | None, accept: str = ""
    ) -> dict[str, Any] | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self.resource(api_version, kind)
        headers = {"header_params": {"Accept": accept}} if accept else {}
        try:
            with translated_errors(f"get {kind} {name}"):
                return self.dynamic.get(
                    resource, name=name, namespace=namespace, **headers
                ).to_dict()
        except KubeError as exc:
            if isinstance(exc.__cause__, NotFoundError):
                return None
            raise

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        labels: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        resource = self.resource(api_version, kind)
        selector = ",".join(f"{k}={v}" for k, v in (labels or {}).items()) or None
        with translated_errors(f"list {kind}"):
            return self.dynamic.get(
                resource, namespace=namespace, label_selector=selector
            ).to_dict()["items"]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete the object; False when it was not there."""
        if self.get(api_version, kind, name, namespace) is None:
            return False
        with translated_errors(f"delete {kind} {name}"):
            self.dynamic.delete(self.resource(api_version, kind), name=name, namespace=namespace)
        return True

    def schema_of(self, api_version: str, kind: str) -> dict[str, Any] | None:
        """The served schema of a kind, from OpenAPI v3 discovery (None when not published).

        Discovery is open to every authenticated user (the system:discovery role), so this
        reads a CRD's schema, and with it the version of the operator that installed it,
        without RBAC on customresourcedefinitions.
        """
        group, _, version = api_version.rpartition("/")
        with translated_errors(f"read the OpenAPI schema of {kind}"):
            index = self._get_json("/openapi/v3")
            entry = (index.get("paths") or {}).get(
                f"apis/{group}/{version}" if group else f"api/{version}"
            )
            if not entry:
                return None
            document = self._get_json(entry["serverRelativeURL"])
        for schema in ((document.get("components") or {}).get("schemas") or {}).values():
            kinds = schema.get("x-kubernetes-group-version-kind") or []
            if {"group": group, "version": version, "kind": kind} in kinds:
                return schema
        return None

    def _get_json(self, url: str) -> dict[str, Any]:
        path, _, query = url.partition("?")
        return self.api.call_api(
            path, "GET", query_params=[tuple(p.split("=", 1)) for p in query.split("&") if p],
            header_params={"Accept": "application/json"}, auth_settings=["BearerToken"],
            response_type="object", _return_http_data_only=True, _request_timeout=(10, 60),
        )  # fmt: skip

    def require_namespace(self, namespace: str) -> None:
        """Fail, before anything is applied, when the namespace does not exist."""
        if self.get("v1", "Namespace", namespace) is None:
            raise KubeError(
                f"namespace {namespace!r} does not exist",
                hint="create the data science project first, or give an existing namespace",
            )

    def pod_log_tail(
        self, pod: str, namespace: str, container: str | None = None, *, previous: bool = False
    ) -> str:
        """The last non-empty log line of a pod's container, or '' when there is none."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        try:
            text = client.CoreV1Api(self.api).read_namespaced_pod_log(
                pod, namespace, container=container, previous=previous, tail_lines=20
            )
        except ApiException:
            return ""
        lines = [line for line in str(text).splitlines() if line.strip()]
        return lines[-1][:300] if lines else ""

    def pod_problems(self, namespace: str, labels: dict[str, str]) -> list[PodProblem]:
        """Why the pods selected by ``labels`` cannot run, one sentence each (empty if none)."""
        problems = []
        for pod in self.list("v1", "Pod", namespace, labels=labels):
            name = pod["metadata"]["name"]
            status = pod.get("status") or {}
            for condition in status.get("conditions") or []:
                if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                    problems.append(
                        PodProblem(
                            f"pod {name} cannot be scheduled ({condition.get('reason')}): "
                            f"{condition.get('message', '')}",
                            may_pass=True,
                        )
                    )
            for container in status.get("containerStatuses") or []:
                waiting = (container.get("state") or {}).get("waiting") or {}
                reason = waiting.get("reason", "")
                if reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
                    problems.append(
                        PodProblem(
                            f"pod {name} cannot pull image {container.get('image')} ({reason}): "
                            f"{waiting.get('message', '')}"
                        )
                    )
                elif reason in (
                    "CrashLoopBackOff",
                    "CreateContainerConfigError",
                    "CreateContainerError",
                ):
                    last = self.pod_log_tail(
                        name, namespace, container["name"], previous=reason == "CrashLoopBackOff"
                    )
                    terminated = (container.get("lastState") or {}).get("terminated") or {}
                    detail = last or terminated.get("message") or waiting.get("message", "")
                    restarts = container.get("restartCount", 0)
                    problems.append(
                        PodProblem(
                            f"container {container['name']} of pod {name} is in {reason} "
                            f"({restarts} restarts); last log line: {detail}"
                        )
                    )
        return problems

    def explain_pods(
        self, namespace: str, labels: dict[str, str], waiting: Readiness, patience: Patience
    ) -> Readiness:
        """``waiting`` made a failure when the pods cannot run, or its state richer when they
        may still (an unschedulable pod, until ``patience`` runs out)."""
        problems = self.pod_problems(namespace, labels)
        lasting = [p.message for p in problems if not p.may_pass]
        passing = [p.message for p in problems if p.may_pass]
        if lasting or patience.exhausted(bool(passing)):
            return Readiness(failure="; ".join(lasting + passing), state=waiting.state)
        if passing:
            return Readiness(state=f"{waiting.state}; {'; '.join(passing)}")
        return waiting


def schema_has(schema: dict[str, Any] | None, path: str) -> bool:
    """True when an OpenAPI schema declares the dotted field ``path`` (``spec.network``)."""
    node = schema or {}
    for field in path.split("."):
        node = (node.get("properties") or {}).get(field)
        if node is None:
            return False
    return True


def wait_until(
    check: Callable[[], Readiness],
    *,
    what: str,
    timeout: float,
    interval: float = 5.0,
    on_state: Callable[[str], None] | None = None,
) -> Readiness:
    """Poll ``check`` until ready; raise NotReady at the first failure or at the deadline.

    Args:
        check: one look at the workload.
        what: the workload's name in messages ("InferenceService ns/name").
        timeout: seconds before giving up.
        interval: seconds between looks.
        on_state: called when the observed state changes (progress logging).
    """
    deadline = time.monotonic() + timeout
    last = Readiness(state="not observed yet")
    while True:
        last = check()
        if last.ready:
            return last
        if last.failure:
            raise NotReady(f"{what} failed: {last.failure}")
        if on_state:
            on_state(last.state)
        if time.monotonic() >= deadline:
            raise NotReady(
                f"{what} not ready after {timeout:.0f}s; last state: {last.state}",
                hint="raise the timeout if the model is still loading, or inspect the pods",
            )
        time.sleep(interval)


@contextmanager
def translated_errors(what: str) -> Iterator[None]:
    """Turn the client's API exceptions into KubeErrors that say what to do."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError
    from urllib3.exceptions import HTTPError

    try:
        yield
    except (DynamicApiError, ApiException) as exc:
        status = getattr(exc, "status", None)
        message = _status_message(exc)
        if status == 403:
            match = _FORBIDDEN.search(message)
            if match:
                scope = (
                    f" in namespace {match['namespace']}" if match["namespace"] else " cluster-wide"
                )
                group = match["group"] or "core"
                raise PermissionDenied(
                    f"cannot {what}: {match['user']} lacks permission to {match['verb']} "
                    f"{match['resource']} (API group {group}){scope}",
                    hint=f"grant it with a Role(Binding) allowing verb {match['verb']!r} on "
                    f"{match['resource']!r} in apiGroup {match['group']!r} (see manifests/)",
                ) from exc
            raise PermissionDenied(f"cannot {what}: forbidden: {message}") from exc
        if status == 404 and "namespaces" in message and "not found" in message:
            raise KubeError(
                f"cannot {what}: {message}", hint="create the namespace or fix its name"
            ) from exc
        raise KubeError(f"cannot {what}: {message} (HTTP {status})") from exc
    except HTTPError as exc:
        raise KubeError(
            f"cannot {what}: the Kubernetes API is unreachable ({exc})",
            hint="check the cluster URL in your kubeconfig and that you are logged in",
        ) from exc


def _status_message(exc: Exception) -> str:
    """The ``message`` of the API's Status body, else the HTTP reason."""
    try:
        return str(json.loads(exc.body)["message"])  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError, KeyError):
        return str(getattr(exc, "reason", "") or exc).strip()
