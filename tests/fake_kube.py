"""A fake Kubernetes API server that the real ``kubernetes`` client talks to over HTTP.

It keeps objects in memory with the REST semantics the project relies on: discovery, get,
list (label selectors), create, replace, merge patch, JSON patch, server-side apply with field
managers, delete, 404/409/403 Status bodies, resourceVersion and generation (bumped only when
the object's spec-like content changes), the status subresource, and namespaced and
cluster-scoped custom resources. Tests script controllers with hooks that run when an object is
read, so an InferenceService can become Ready after a few polls, or fail. Whoever must know
when the store changes (tests/network_policy.py's Edges, which re-decide at each policy change)
subscribes to it.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jsonpatch
import yaml
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from tests.fake_rbac import Access, User, allows, forbidden_message, request_verb
from tests.servers import serve_app


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


BUILTIN_TYPES = [
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False),
    ResourceType("", "v1", "nodes", "Node", namespaced=False),
    ResourceType("", "v1", "pods", "Pod"),
    ResourceType("", "v1", "services", "Service"),
    ResourceType("", "v1", "configmaps", "ConfigMap", status=False),
    ResourceType("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    ResourceType("", "v1", "secrets", "Secret", status=False),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", status=False),
    ResourceType("", "v1", "events", "Event", status=False),
    ResourceType("apps", "v1", "deployments", "Deployment"),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", status=False),
    ResourceType("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", status=False),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", status=False),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", status=False),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        namespaced=False,
        status=False,
    ),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        namespaced=False,
        status=False,
    ),
]
OPENSHIFT_AI_TYPES = [
    ResourceType("serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"),
    ResourceType("serving.kserve.io", "v1alpha1", "servingruntimes", "ServingRuntime"),
    ResourceType("llamastack.io", "v1alpha1", "llamastackdistributions", "LlamaStackDistribution"),
    ResourceType("ols.openshift.io", "v1alpha1", "olsconfigs", "OLSConfig", namespaced=False),
    ResourceType(
        "config.openshift.io", "v1", "clusteroperators", "ClusterOperator", namespaced=False
    ),
    ResourceType(
        "metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", namespaced=False, status=False
    ),
    ResourceType("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", status=False),
]

Hook = Callable[[dict[str, Any], "FakeKube"], None]
CRDS = Path(__file__).resolve().parent / "data" / "crds"


def crd_schemas() -> dict[tuple[str, str, str], dict[str, Any]]:
    """(group, version, kind) -> the served schema of every CRD in tests/data, as the API
    server publishes it in OpenAPI v3 discovery."""
    schemas = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served", True):
                gvk = [{"group": group, "version": version["name"], "kind": kind}]
                schema = {
                    **version["schema"]["openAPIV3Schema"],
                    "x-kubernetes-group-version-kind": gvk,
                }
                schemas[(group, version["name"], kind)] = schema
    return schemas


NO_GENERATION = {"metadata", "status", "apiVersion", "kind"}
# Who a caller is when the fake enforces no RBAC (an admin kubeconfig's user).
ADMIN = "system:admin"
Key = tuple[str, str, str, str]  # (plural, namespace, name, group)
Subscriber = Callable[[Key], None]


class Store(dict[Key, dict[str, Any]]):
    """The objects by key, telling its subscribers of each key set or removed, in the writer's
    thread before the write returns: through the API, ``put`` and a test's own
    ``fake.objects[key] = ...`` or ``del fake.objects[key]`` alike, so no write is missed.
    An object changed in place (``fake.get(...)["spec"] = ...``) is not seen: store it again."""

    subscribers: list[Subscriber]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subscribers = []

    def _tell(self, key: Key) -> None:
        for subscriber in list(getattr(self, "subscribers", ())):  # none while being copied
            subscriber(key)

    def __setitem__(self, key: Key, value: dict[str, Any]) -> None:
        super().__setitem__(key, value)
        self._tell(key)

    def __delitem__(self, key: Key) -> None:
        super().__delitem__(key)
        self._tell(key)

    def pop(self, key: Key, *default: Any) -> Any:
        had = key in self
        value = super().pop(key, *default)
        if had:
            self._tell(key)
        return value

    def popitem(self) -> tuple[Key, dict[str, Any]]:
        key, value = super().popitem()
        self._tell(key)
        return key, value

    def setdefault(self, key: Key, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        keys = list(self)
        super().clear()
        for key in keys:
            self._tell(key)


@dataclass
class FakeKube:
    """The server's state, and the test's handle on it."""

    types: list[ResourceType] = field(default_factory=lambda: BUILTIN_TYPES + OPENSHIFT_AI_TYPES)
    schemas: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=crd_schemas)
    objects: Store = field(default_factory=Store)
    read_hooks: dict[tuple[str, str, str], Hook] = field(default_factory=dict)
    pod_logs: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, pod) -> text
    forbidden: set[tuple[str, str]] = field(default_factory=set)  # (verb, plural)
    requests: list[str] = field(default_factory=list)
    accepts: list[str] = field(default_factory=list)  # the Accept header of each request
    user: str = "system:serviceaccount:ai-project:pipeline-runner-dspa"
    # With rbac, every request needs one of these bearer tokens (token -> user name), and
    # RBAC objects in the store decide what it may do; every decision lands in audit.
    tokens: dict[str, str] = field(default_factory=dict)
    rbac: bool = False
    audit: list[Access] = field(default_factory=list)
    _versions: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _applied: dict[tuple[str, str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        if not isinstance(self.objects, Store):  # FakeKube(objects={...})
            self.objects = Store(self.objects)

    # -- test-side helpers --------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(key)`` after each write of an object, synchronously, in the
        writer's thread (holding the store's lock when the writer does): when the write returns,
        the subscriber has seen it. It must not wait on another thread that uses this fake.
        Returns the unsubscribe function."""
        self.objects.subscribers.append(subscriber)
        return lambda: self.objects.subscribers.remove(subscriber)

    def type_of(self, plural: str, api_version: str | None = None) -> ResourceType:
        return next(
            t for t in self.types if t.plural == plural and api_version in (None, t.api_version)
        )

    def put(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store an object as a controller would, bypassing the API (no checks)."""
        rtype = self.type_of(plural, obj.get("apiVersion"))
        meta = obj.setdefault("metadata", {})
        obj.setdefault("apiVersion", rtype.api_version)
        obj.setdefault("kind", rtype.kind)
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = str(next(self._versions))
        meta.setdefault("uid", f"uid-{meta['resourceVersion']}")
        with self._lock:
            self.objects[(rtype.plural, meta.get("namespace", ""), meta["name"], rtype.group)] = obj
        return obj

    def add_namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        # The API server labels every namespace with its name (since 1.21); NetworkPolicies
        # select namespaces by that label.
        labels = {"kubernetes.io/metadata.name": name, **(labels or {})}
        meta = {"name": name, "labels": labels}
        self.put("namespaces", {"metadata": meta, "status": {"phase": "Active"}})

    def get(self, plural: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        rtype = self.type_of(plural)
        return self.objects.get((plural, namespace if rtype.namespaced else "", name, rtype.group))

    def on_read(self, plural: str, name: str, hook: Hook, namespace: str = "") -> None:
        """Run ``hook(obj, fake)`` each time the object is read through the API."""
        self.read_hooks[(plural, namespace, name)] = hook

    def without(self, group: str) -> None:
        """Remove an API group, as on a cluster where that operator is not installed."""
        self.types = [t for t in self.types if t.group != group]

    # -- the API -------------------------------------------------------------------------------

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def authenticate(request: Request, call_next: Any) -> Response:
            request.state.user = self.authenticate(request) if self.rbac else None
            if self.rbac and request.state.user is None:
                return _status(401, "Unauthorized", "Unauthorized")
            return await call_next(request)

        @app.get("/api")
        def core_versions() -> dict[str, Any]:
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}

        @app.get("/apis")
        def groups() -> dict[str, Any]:
            by_group: dict[str, list[str]] = {}
            for t in self.types:
                if t.group:
                    by_group.setdefault(t.group, []).append(t.version)
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": g,
                        "versions": [
                            {"groupVersion": f"{g}/{v}", "version": v} for v in dict.fromkeys(vs)
                        ],
                        "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
                    }
                    for g, vs in by_group.items()
                ],
            }

        @app.get("/api/v1")
        def core_resources() -> Response:
            return self._resource_list("", "v1")

        @app.get("/apis/{group}/{version}")
        def group_resources(group: str, version: str) -> Response:
            return self._resource_list(group, version)

        @app.get("/openapi/v3")
        def openapi_index() -> dict[str, Any]:
            served = {(t.group, t.version) for t in self.types if t.group}
            return {"paths": {
                f"apis/{g}/{v}": {"serverRelativeURL": f"/openapi/v3/apis/{g}/{v}?hash=0123"}
                for g, v in sorted(served)
            }}  # fmt: skip

        @app.get("/openapi/v3/apis/{group}/{version}")
        def openapi_group(group: str, version: str) -> Response:
            schemas = {
                f"{'.'.join(reversed(g.split('.')))}.{v}.{k}": schema
                for (g, v, k), schema in self.schemas.items()
                if (g, v) == (group, version)
                and any(t.kind == k and t.group == g for t in self.types)
            }
            if not schemas:
                return _status(404, "NotFound", "the server could not find the requested resource")
            return _json({"openapi": "3.0.0", "components": {"schemas": schemas}})

        @app.get("/version")
        def version() -> dict[str, str]:  # what VersionApi.get_code() deserializes
            return {
                "major": "1", "minor": "31", "gitVersion": "v1.31.6", "gitCommit": "0" * 40,
                "gitTreeState": "clean", "buildDate": "2026-10-01T00:00:00Z", "goVersion": "go1.23.6",
                "compiler": "gc", "platform": "linux/amd64",
            }  # fmt: skip

        @app.api_route("/api/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        async def core(rest: str, request: Request) -> Response:
            return await self._dispatch("", "v1", rest, request)

        @app.api_route(
            "/apis/{group}/{version}/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
        )
        async def grouped(group: str, version: str, rest: str, request: Request) -> Response:
            return await self._dispatch(group, version, rest, request)

        return app

    def _resource_list(self, group: str, version: str) -> Response:
        types = [t for t in self.types if t.group == group and t.version == version]
        if not types:
            return _status(404, "NotFound", "the server could not find the requested resource")
        resources = []
        for t in types:
            verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
            resources.append(
                {
                    "name": t.plural,
                    "singularName": t.kind.lower(),
                    "namespaced": t.namespaced,
                    "kind": t.kind,
                    "verbs": verbs,
                }
            )
            if t.status:
                resources.append(
                    {
                        "name": f"{t.plural}/status",
                        "singularName": "",
                        "namespaced": t.namespaced,
                        "kind": t.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        gv = f"{group}/{version}" if group else version
        return _json(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": gv,
                "resources": resources,
            }
        )

    async def _dispatch(self, group: str, version: str, rest: str, request: Request) -> Response:
        parts = rest.strip("/").split("/")
        namespace = ""
        if parts[0] == "namespaces" and len(parts) >= 3:
            namespace, parts = parts[1], parts[2:]
        plural = parts[0]
        name = parts[1] if len(parts) > 1 else ""
        subresource = parts[2] if len(parts) > 2 else ""
        if reviewed := await self._review(group, plural, request):
            return reviewed
        verb = request_verb(request.method, name, dict(request.query_params))
        rtype = next(
            (t for t in self.types if (t.group, t.version, t.plural) == (group, version, plural)),
            None,
        )
        if rtype is None and (plural, subresource) != ("pods", "log"):
            return _status(404, "NotFound", "the server could not find the requested resource")
        if self.rbac:
            # GET /api/v1/namespaces/X is in namespace X (apiserver's RequestInfo)
            scope = name if plural == "namespaces" and not group else namespace
            resource = f"{plural}/{subresource}" if subresource else plural
            creates = (
                request.method == "PATCH"
                and request.headers.get("content-type", "").startswith("application/apply-patch")
                and rtype is not None
                and (rtype.plural, namespace, name, rtype.group) not in self.objects
            )
            # A list or watch of one object by its name is authorized as that name, so that a
            # rule's resourceNames apply (apiserver's RequestInfo reads the field selector).
            selected = request.query_params.get("fieldSelector", "").removeprefix("metadata.name=")
            target = name or (selected if "=" not in selected else "")
            for checked in [verb, "create"] if creates else [verb]:
                access = self._access(request, checked, group, resource, scope, target)
                if not access.allowed:
                    return _status(403, "Forbidden", forbidden_message(access),
                                   details={"name": name, "group": group, "kind": plural})  # fmt: skip
        if plural == "pods" and subresource == "log":
            return Response(self.pod_logs.get((namespace, name), ""), media_type="text/plain")
        self.requests.append(f"{request.method} {request.url.path}?{request.url.query}")
        self.accepts.append(request.headers.get("accept", ""))
        if (verb, plural) in self.forbidden:
            scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
            what = f"{plural}.{group}" if group else plural
            return _status(
                403,
                "Forbidden",
                f'{what} "{name}" is forbidden: User "{self.user}" cannot {verb} resource "{plural}" '
                f'in API group "{group}"{scope}',
                details={"name": name, "group": group, "kind": plural},
            )
        if rtype.namespaced and namespace and not self.get("namespaces", namespace):
            return _status(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                details={"name": namespace, "kind": "namespaces"},
            )
        if verb == "watch":
            return self._watch(rtype, namespace, request)
        body = await request.body()
        with self._lock:
            if verb == "list":
                return self._list(rtype, namespace, request)
            if verb == "create":
                return self._create(rtype, namespace, json.loads(body))
            key = (rtype.plural, namespace, name, rtype.group)
            current = self.objects.get(key)
            if request.method == "PATCH" and request.headers.get("content-type", "").startswith(
                "application/apply-patch"
            ):
                return self._apply(rtype, key, current, yaml.safe_load(body), request)
            if current is None:
                return _not_found(rtype, name)
            if verb == "get":
                hook = self.read_hooks.get((plural, namespace, name))
                if hook:
                    hook(current, self)
                if "as=PartialObjectMetadata" in request.headers.get("accept", ""):
                    return _json({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                  "metadata": current["metadata"]})  # fmt: skip
                return _json(current)
            if verb == "delete":
                del self.objects[key]
                return _json(
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Success",
                        "details": {"name": name},
                    }
                )
            if verb == "update":
                return self._store(key, current, json.loads(body), subresource, check_version=True)
            return self._patch(
                key, current, body, request.headers.get("content-type", ""), subresource
            )

    # -- authentication and RBAC (tests/fake_rbac.py) -------------------------------------------

    def authenticate(self, request: Request) -> User | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        name = self.tokens.get(token) if scheme.lower() == "bearer" else None
        return User.of(name) if name else None

    def _access(
        self, request: Request, verb: str, group: str, resource: str, namespace: str, name: str
    ) -> Access:
        user = request.state.user
        probe = Access(user.name, verb, group, resource, namespace, name, allowed=False)
        with self._lock:
            access = replace(probe, allowed=allows(self.objects, user, probe))
        self.audit.append(access)
        return access

    async def _review(self, group: str, plural: str, request: Request) -> Response | None:
        """TokenReview and SubjectAccessReview, which kube-rbac-proxy asks the API server, and
        SelfSubjectAccessReview, which every authenticated user may ask about itself (the
        ``system:basic-user`` ClusterRole, kubernetes plugin/pkg/auth/authorizer/rbac/
        bootstrappolicy/policy.go)."""
        if (group, plural) == ("authentication.k8s.io", "selfsubjectreviews"):
            return self._self_subject_review(request) if request.method == "POST" else None
        if (group, plural) not in (
            ("authentication.k8s.io", "tokenreviews"),
            ("authorization.k8s.io", "subjectaccessreviews"),
            ("authorization.k8s.io", "selfsubjectaccessreviews"),
        ) or request.method != "POST":
            return None
        self_review = plural == "selfsubjectaccessreviews"
        if (
            self.rbac and not self_review
            and not self._access(request, "create", group, plural, "", "").allowed
        ):  # fmt: skip
            return _status(403, "Forbidden", f"cannot create {plural}.{group}")
        review = json.loads(await request.body())
        spec = review.get("spec") or {}
        if self_review:
            user = request.state.user or User.of("system:anonymous")
            spec = {**spec, "user": user.name, "groups": list(user.groups)}
        if plural == "tokenreviews":
            name = self.tokens.get(spec.get("token", ""))
            user = User.of(name) if name else None
            status: dict[str, Any] = {"authenticated": user is not None}
            if user:
                status["user"] = {"username": user.name, "groups": list(user.groups)}
        else:
            attrs = spec.get("resourceAttributes") or {}
            subresource = attrs.get("subresource", "")
            probe = Access(
                spec.get("user", ""), attrs.get("verb", ""), attrs.get("group", ""),
                attrs.get("resource", "") + (f"/{subresource}" if subresource else ""),
                attrs.get("namespace", ""), attrs.get("name", ""), allowed=False,
            )  # fmt: skip
            asker = User(spec.get("user", ""), tuple(spec.get("groups") or ()))
            with self._lock:
                status = {"allowed": allows(self.objects, asker, probe)}
            if self_review:  # the asker's own right, decided as its request would be
                self.audit.append(replace(probe, allowed=status["allowed"]))
        return _json({**review, "status": status}, 201)

    def _self_subject_review(self, request: Request) -> Response:
        """Who the caller is (kubernetes pkg/registry/authentication/selfsubjectreview): any
        authenticated user may ask (``system:basic-user``); ``system:anonymous`` may not.
        Without RBAC every caller is the cluster's admin, as with a kubeconfig of system:admin."""
        user = request.state.user if self.rbac else User.of(ADMIN)
        if user is None:
            return _status(403, "Forbidden", 'User "system:anonymous" cannot create resource '
                           '"selfsubjectreviews" in API group "authentication.k8s.io"')  # fmt: skip
        info = {"username": user.name, "groups": list(user.groups)}
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        return _json({**review, "metadata": {}, "status": {"userInfo": info}}, 201)

    def _watch(self, rtype: ResourceType, namespace: str, request: Request) -> Response:
        """A watch of one object (``fieldSelector=metadata.name=...``), as a stream of events.

        The object's read hook (its controller) runs at every tick, as if time passed; each
        change after the client's resourceVersion is sent as it happens, until timeoutSeconds.
        """
        name = request.query_params.get("fieldSelector", "").removeprefix("metadata.name=")
        seconds = float(request.query_params.get("timeoutSeconds", "30"))
        since = request.query_params.get("resourceVersion")
        key = (rtype.plural, namespace, name, rtype.group)
        hook = self.read_hooks.get((rtype.plural, namespace, name))

        def snapshot() -> tuple[str | None, str | None]:
            obj = self.objects.get(key)
            if obj is None:
                return None, None
            return json.dumps(obj, sort_keys=True), obj["metadata"]["resourceVersion"]

        async def events() -> AsyncIterator[bytes]:
            with self._lock:
                seen, version = snapshot()
            if since is not None and version != since:
                seen = ""  # changed since the client read it: the first tick sends it
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                with self._lock:
                    obj = self.objects.get(key)
                    if obj is not None and hook:
                        hook(obj, self)
                    current, _ = snapshot()
                if current != seen:
                    kind = (
                        "DELETED" if current is None else ("ADDED" if seen is None else "MODIFIED")
                    )
                    payload = json.loads(current) if current else {"metadata": {"name": name}}
                    yield (json.dumps({"type": kind, "object": payload}) + "\n").encode()
                    seen = current
                await asyncio.sleep(0.02)

        return StreamingResponse(events(), media_type="application/json")

    def _list(self, rtype: ResourceType, namespace: str, request: Request) -> Response:
        selector = _parse_selector(request.query_params.get("labelSelector", ""))
        items = [
            o for (plural, ns, _, group), o in sorted(self.objects.items())
            if plural == rtype.plural and group == rtype.group and (not namespace or ns == namespace)
            and all(o.get("metadata", {}).get("labels", {}).get(k) == v for k, v in selector.items())
        ]  # fmt: skip
        return _json(
            {
                "kind": f"{rtype.kind}List",
                "apiVersion": rtype.api_version,
                "metadata": {"resourceVersion": str(next(self._versions))},
                "items": items,
            }
        )

    def _create(self, rtype: ResourceType, namespace: str, obj: dict[str, Any]) -> Response:
        meta = obj.setdefault("metadata", {})
        if rtype.namespaced:
            meta["namespace"] = namespace
        key = (rtype.plural, meta.get("namespace", ""), meta.get("name", ""), rtype.group)
        if not meta.get("name"):
            return _status(
                422, "Invalid", f"{rtype.kind} is invalid: metadata.name: Required value"
            )
        if key in self.objects:
            return _status(
                409,
                "AlreadyExists",
                f'{rtype.plural}.{rtype.group} "{meta["name"]}" already exists',
                details={"name": meta["name"], "kind": rtype.plural},
            )
        obj.setdefault("apiVersion", rtype.api_version)
        obj.setdefault("kind", rtype.kind)
        _store_string_data(obj)
        meta["generation"] = 1
        meta["uid"] = f"uid-{len(self.objects) + 1}"
        meta["resourceVersion"] = str(next(self._versions))
        meta["creationTimestamp"] = "2026-11-26T00:00:00Z"
        self.objects[key] = obj
        return _json(obj, 201)

    def _store(
        self,
        key: tuple[str, str, str, str],
        current: dict[str, Any],
        new: dict[str, Any],
        subresource: str,
        *,
        check_version: bool = False,
    ) -> Response:
        sent_version = new.get("metadata", {}).get("resourceVersion")
        if (
            check_version
            and sent_version
            and sent_version != current["metadata"]["resourceVersion"]
        ):
            return _status(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {key[0]} "{key[2]}": the object has been modified; please apply your changes to the latest version and try again',
            )
        if subresource == "status":
            merged = copy.deepcopy(current)
            merged["status"] = new.get("status", {})
        else:
            merged = copy.deepcopy(new)
            merged["status"] = current.get("status", merged.get("status"))
            merged["metadata"] = {
                **current["metadata"],
                **{
                    k: v
                    for k, v in new.get("metadata", {}).items()
                    if k not in ("resourceVersion", "generation", "uid", "creationTimestamp")
                },
            }
        return _json(self._commit(key, current, merged))

    def _commit(
        self, key: tuple[str, str, str, str], current: dict[str, Any], merged: dict[str, Any]
    ) -> dict[str, Any]:
        _store_string_data(merged)
        if merged == current:
            return current
        if _spec_of(merged) != _spec_of(current):
            merged["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        merged["metadata"]["resourceVersion"] = str(next(self._versions))
        self.objects[key] = merged
        return merged

    def _patch(
        self,
        key: tuple[str, str, str, str],
        current: dict[str, Any],
        body: bytes,
        content_type: str,
        subresource: str,
    ) -> Response:
        patch = json.loads(body)
        if content_type.startswith("application/json-patch+json"):
            try:
                merged = jsonpatch.apply_patch(current, patch)
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                return _status(422, "Invalid", f"the JSON patch does not apply: {exc}")
        elif content_type.startswith(
            ("application/merge-patch+json", "application/strategic-merge-patch+json")
        ):
            merged = _merge(copy.deepcopy(current), patch)
        else:
            return _status(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format: {content_type}",
            )
        if subresource != "status":
            merged["status"] = current.get("status", merged.get("status"))
        elif set(patch) - {"status", "metadata"}:
            merged = {**current, "status": merged.get("status")}
        merged["metadata"] = {**merged["metadata"], "uid": current["metadata"]["uid"]}
        return _json(self._commit(key, current, merged))

    def _apply(
        self,
        rtype: ResourceType,
        key: tuple[str, str, str, str],
        current: dict[str, Any] | None,
        applied: dict[str, Any],
        request: Request,
    ) -> Response:
        manager = request.query_params.get("fieldManager")
        if not manager:
            return _status(
                422,
                "Invalid",
                "PatchOptions.meta.k8s.io is invalid: fieldManager: Required value: is required for apply patch",
            )
        for fieldname in ("apiVersion", "kind"):
            if not applied.get(fieldname):
                return _status(400, "BadRequest", f"{fieldname} must be set in an apply patch")
        applied_key = (*key, manager)
        if current is None:
            self._applied[applied_key] = copy.deepcopy(applied)
            obj = copy.deepcopy(applied)
            obj.setdefault("metadata", {})["name"] = key[2]
            return self._create(rtype, key[1], obj)
        previous = self._applied.get(applied_key, {})
        merged = _merge(copy.deepcopy(current), _without_status(applied))
        _drop_removed(merged, previous, applied)
        self._applied[applied_key] = copy.deepcopy(applied)
        return _json(self._commit(key, current, merged))


def _store_string_data(obj: dict[str, Any]) -> None:
    """A Secret's ``stringData`` is merged into ``data`` on write and never stored, as the API
    server does (kubernetes/kubernetes a2b9bc4 pkg/apis/core/v1/conversion.go)."""
    if obj.get("kind") == "Secret" and "stringData" in obj:
        encoded = {
            k: base64.b64encode(v.encode()).decode() for k, v in obj.pop("stringData").items()
        }
        obj["data"] = {**(obj.get("data") or {}), **encoded}


def _without_status(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "status"}


def _spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    content = {k: v for k, v in obj.items() if k not in NO_GENERATION}
    return content


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge(target.get(key), value)
    return target


def _drop_removed(obj: dict[str, Any], previous: dict[str, Any], applied: dict[str, Any]) -> None:
    """Server-side apply: fields the manager applied before but not now are removed."""
    for key, old in previous.items():
        if key not in applied:
            obj.pop(key, None)
        elif (
            isinstance(old, dict)
            and isinstance(applied[key], dict)
            and isinstance(obj.get(key), dict)
        ):
            _drop_removed(obj[key], old, applied[key])


def _parse_selector(selector: str) -> dict[str, str]:
    pairs = [p.split("=", 1) for p in selector.split(",") if "=" in p]
    return {k.strip(): v.strip() for k, v in pairs}


def _json(obj: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(obj), status_code=status, media_type="application/json")


def _status(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return _json(body, code)


def _not_found(rtype: ResourceType, name: str) -> Response:
    what = f"{rtype.plural}.{rtype.group}" if rtype.group else rtype.plural
    return _status(
        404,
        "NotFound",
        f'{what} "{name}" not found',
        details={"name": name, "group": rtype.group, "kind": rtype.plural},
    )


def write_kubeconfig(path: Path, server: str, token: str, namespace: str = "") -> Path:
    """A kubeconfig for ``server`` with a bearer token, as `oc login` writes one."""
    context = {"cluster": "fake", "user": "fake", **({"namespace": namespace} if namespace else {})}
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "fake", "user": {"token": token}}],
        "contexts": [{"name": "fake", "context": context}],
    }))  # fmt: skip
    return path


@contextmanager
def running(fake: FakeKube) -> Iterator[str]:
    """Serve ``fake`` on loopback; yields its URL."""
    with serve_app(fake.app()) as url:
        yield url
