"""The cluster through the official client: server-side apply, discovery, schemas, reads.

* ``apply`` is server-side apply with a named field manager: re-applying an unchanged object
  is a no-op on the server (no new resourceVersion, no new generation), and fields other
  managers own (a controller's status, a user's label) are left alone.
* ``serves`` asks discovery whether a kind exists, and ``schema_of`` reads its published
  schema, so callers can pick the operator path or a fallback before applying anything.

Inside a pipeline step the in-cluster service account is used; elsewhere the kubeconfig.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from functools import partial
from typing import Any, cast

from llama_rollout.bounds import CONNECT, KUBERNETES
from llama_rollout.deadline import bounded_pools, deadline, urllib3_timeout
from llama_rollout.errors import first_line
from llama_rollout.kube.errors import KubeError, translated_errors
from llama_rollout.redaction import excerpt

logger = logging.getLogger(__name__)

FIELD_MANAGER = "llama-rollout"
PARTIAL_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 - a path


def api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """An ApiClient: in-cluster config inside a pod, the kubeconfig elsewhere.

    Every request it makes is bounded (``bounds.KUBERNETES``, a total): a connection that fails
    is tried twice more, an answer that does not come (or not whole, in time) is not waited for
    again.
    """
    import urllib3
    from kubernetes import client, config

    configuration = client.Configuration()
    if (
        kubeconfig is None
        and os.environ.get("KUBERNETES_SERVICE_HOST")
        and os.path.exists(IN_CLUSTER_TOKEN)
    ):
        config.load_incluster_config(client_configuration=configuration)
    else:
        # The client reads KUBECONFIG once, when it is imported; a step reads it when it runs.
        kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or None
        try:
            config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
        except (config.ConfigException, OSError) as exc:
            raise KubeError(
                f"no Kubernetes configuration: {exc}",
                hint="log in with `oc login` (or set KUBECONFIG), or run inside the cluster",
            ) from exc
    configuration.retries = urllib3.Retry(connect=2, read=0, status=0, other=0, redirect=0)

    class BoundedApiClient(client.ApiClient):  # type: ignore[misc]
        # Every call gets a connect and a read timeout unless it gives its own: the client's
        # default is to wait for ever. Each request, its answer included, is bounded by their
        # sum in all, however slowly the bytes come (``deadline``); a watch, whose answer is
        # streamed, up to its headers.
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            bounded_pools(self.rest_client.pool_manager)

        def call_api(self, *args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
            timeout = _request_timeout or (CONNECT, KUBERNETES.read)
            call = partial(super().call_api, *args, _request_timeout=timeout, **kwargs)
            query = dict(kwargs.get("query_params", args[3] if len(args) > 3 else None) or [])
            if kwargs.get("_preload_content", True) or query.get("watch") or query.get("follow"):
                return call()
            # The dynamic client streams every answer and reads it afterwards: here it is read
            # whole, within the request's bound, and kept for the caller.
            path = str(kwargs.get("resource_path", args[0] if args else ""))
            seconds = sum(timeout) if isinstance(timeout, tuple | list) else timeout
            with deadline(seconds, urllib3_timeout(path)):
                result = call()
                (result[0] if isinstance(result, tuple) else result).data  # noqa: B018 - read
            return result

    return BoundedApiClient(configuration)


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
        self.where = f"the Kubernetes API at {client.configuration.host}"
        with translated_errors("discover the API", self.where):
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

    def may(
        self, verb: str, api_version: str, kind: str, name: str = "", namespace: str = ""
    ) -> bool:
        """Whether this client's user may ``verb`` the kind (a SelfSubjectAccessReview, which
        every authenticated user may ask): a step checks a right before it writes anything."""
        from kubernetes import client as k8s

        resource = self.resource(api_version, kind)
        group = api_version.rpartition("/")[0]
        attributes = k8s.V1ResourceAttributes(
            verb=verb,
            group=group,
            resource=resource.name,
            name=name or None,
            namespace=namespace or None,
        )
        review = k8s.V1SelfSubjectAccessReview(
            spec=k8s.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes)
        )
        with translated_errors(f"ask whether it may {verb} {kind}", self.where):
            # The api client bounds every request (api_client above).
            answer = k8s.AuthorizationV1Api(self.dynamic.client).create_self_subject_access_review(
                review
            )
        return bool(answer.status and answer.status.allowed)

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply ``obj`` (taking over conflicting fields) and return the result."""
        meta = obj["metadata"]
        resource = self.resource(obj["apiVersion"], obj["kind"])
        what = f"apply {obj['kind']} {meta.get('namespace', '') + '/' if meta.get('namespace') else ''}{meta['name']}"
        with translated_errors(what, self.where):
            result = self.dynamic.server_side_apply(
                resource,
                body=obj,
                name=meta["name"],
                namespace=meta.get("namespace"),
                field_manager=self.field_manager,
                force_conflicts=True,
            )
        return cast("dict[str, Any]", result.to_dict())  # the untyped client's ResourceInstance

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Write ``obj`` whole (PUT). With ``metadata.resourceVersion`` set, the server refuses
        the write with a Conflict when the object changed since that version was read: the
        way to change an atomic list without losing another writer's entries."""
        meta = obj["metadata"]
        resource = self.resource(obj["apiVersion"], obj["kind"])
        with translated_errors(f"replace {obj['kind']} {meta['name']}", self.where):
            result = self.dynamic.replace(resource, body=obj, namespace=meta.get("namespace"))
        return cast("dict[str, Any]", result.to_dict())  # the untyped client's ResourceInstance

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create ``obj``; a Conflict when it exists already (the way to take a Lease)."""
        meta = obj["metadata"]
        resource = self.resource(obj["apiVersion"], obj["kind"])
        with translated_errors(f"create {obj['kind']} {meta['name']}", self.where):
            result = self.dynamic.create(resource, body=obj, namespace=meta.get("namespace"))
        return cast("dict[str, Any]", result.to_dict())  # the untyped client's ResourceInstance

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
            with translated_errors(f"get {kind} {name}", self.where):
                found = self.dynamic.get(resource, name=name, namespace=namespace, **headers)
                return cast("dict[str, Any]", found.to_dict())
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
        with translated_errors(f"list {kind}", self.where):
            found = self.dynamic.get(resource, namespace=namespace, label_selector=selector)
            return cast("list[dict[str, Any]]", found.to_dict()["items"])

    def watch(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        *,
        resource_version: str | None,
        seconds: float,
    ) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """The changes to one object after ``resource_version``, for up to ``seconds``.

        Yields ``(event type, object)``; a DELETED object is None. The server ends the watch
        after ``seconds`` (``timeoutSeconds``), and a read that hears nothing for longer than
        that ends it here; an expired resourceVersion (410) ends it too, for a fresh read.
        """
        from urllib3.exceptions import ProtocolError, ReadTimeoutError

        resource = self.resource(api_version, kind)
        query = [
            ("watch", "true"),
            ("fieldSelector", f"metadata.name={name}"),
            ("timeoutSeconds", str(max(1, int(seconds)))),
        ]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        with translated_errors(f"watch {kind} {name}", self.where):
            response = self.api.call_api(
                resource.path(namespace=namespace),
                "GET",
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=(10, seconds + 10),
            )
        try:
            pending = b""
            for chunk in response.stream(64 * 1024):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in filter(None, lines):
                    event = json.loads(line)
                    if event.get("type") == "ERROR":  # 410 Gone: too old a resourceVersion
                        return
                    obj = event.get("object")
                    yield event["type"], None if event["type"] == "DELETED" else obj
        except (ReadTimeoutError, ProtocolError):
            return
        finally:
            response.release_conn()

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete the object; False when it was not there."""
        if self.get(api_version, kind, name, namespace) is None:
            return False
        with translated_errors(f"delete {kind} {name}", self.where):
            self.dynamic.delete(self.resource(api_version, kind), name=name, namespace=namespace)
        return True

    def schema_of(self, api_version: str, kind: str) -> dict[str, Any] | None:
        """The served schema of a kind, from OpenAPI v3 discovery (None when not published).

        Discovery is open to every authenticated user (the system:discovery role), so this
        reads a CRD's schema, and with it the version of the operator that installed it,
        without RBAC on customresourcedefinitions.
        """
        group, _, version = api_version.rpartition("/")
        with translated_errors(f"read the OpenAPI schema of {kind}", self.where):
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
                return cast("dict[str, Any]", schema)
        return None

    def _get_json(self, url: str) -> dict[str, Any]:
        path, _, query = url.partition("?")
        return cast(
            "dict[str, Any]",
            self.api.call_api(
                path,
                "GET",
                query_params=[tuple(p.split("=", 1)) for p in query.split("&") if p],
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                response_type="object",
                _return_http_data_only=True,
                _request_timeout=(10, 60),
            ),
        )

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
        """The last non-empty log line of a pod's container, or '' when there is none (or it
        cannot be read: the log only explains a failure, it is not one itself)."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            text = client.CoreV1Api(self.api).read_namespaced_pod_log(
                pod, namespace, container=container, previous=previous, tail_lines=20
            )
        except (ApiException, HTTPError) as exc:
            logger.warning("cannot read the log of pod %s/%s: %s", namespace, pod, first_line(exc))
            return ""
        lines = [line for line in str(text).splitlines() if line.strip()]
        return excerpt(lines[-1], 300) if lines else ""


def schema_has(schema: dict[str, Any] | None, path: str) -> bool:
    """True when an OpenAPI schema declares the dotted field ``path`` (``spec.network``)."""
    node: dict[str, Any] = schema or {}
    for field in path.split("."):
        child = (node.get("properties") or {}).get(field)
        if child is None:
            return False
        node = child
    return True
