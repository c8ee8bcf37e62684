"""Authentication and RBAC for the fake Kubernetes API, as kube-apiserver decides them.

Read from kubernetes/kubernetes (``staging/src/k8s.io/apiserver/pkg/endpoints/request/
requestinfo.go`` for the attributes of a request, ``plugin/pkg/auth/authorizer/rbac/rbac.go``
and ``pkg/apis/rbac/v1/evaluation_helpers.go`` for the rules) and what this project relies on:

* a bearer token names a user; a service account's user is
  ``system:serviceaccount:<namespace>:<name>`` in the groups ``system:serviceaccounts``,
  ``system:serviceaccounts:<namespace>`` and ``system:authenticated``. An unknown token is 401.
* a request's verb is get/list/watch (GET), create (POST), update (PUT), patch (PATCH),
  delete/deletecollection (DELETE); a server-side apply that creates the object also needs
  create. ``GET /api/v1/namespaces/X`` is in namespace X, so a Role there can allow it.
* it is allowed when a RoleBinding in its namespace, or a ClusterRoleBinding, binds one of the
  user's names to a Role or ClusterRole with a rule matching its API group, resource
  (``pods/log`` for a subresource), verb and, where the rule lists them, resource name.
  ``*`` matches anything. Discovery and OpenAPI (``system:discovery``) are open to every
  authenticated user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]

    @classmethod
    def of(cls, name: str) -> User:
        # In the API server's order: a service account's groups, then system:authenticated
        # (serviceaccount/util.go, authenticated_group_adder.go); the admin is a master.
        groups = ["system:masters"] if name == "system:admin" else []
        if name.startswith("system:serviceaccount:"):
            namespace = name.split(":")[2]
            groups += ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
        return cls(name, (*groups, "system:authenticated"))


@dataclass(frozen=True)
class Access:
    """One resource request, as the authorizer sees it."""

    user: str
    verb: str
    group: str
    resource: str  # with its subresource: "pods/log"
    namespace: str
    name: str
    allowed: bool

    @property
    def rule(self) -> tuple[str, str, str]:
        return self.group, self.resource, self.verb


def request_verb(method: str, name: str, query: dict[str, str]) -> str:
    if method == "GET":
        if query.get("watch") in ("true", "1"):
            return "watch"
        return "get" if name else "list"
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}[method]


def _matches(rule: dict[str, Any], access: Access) -> bool:
    def has(field: str, value: str) -> bool:
        values = rule.get(field) or []
        return "*" in values or value in values

    names = rule.get("resourceNames") or []
    return (
        has("apiGroups", access.group)
        and has("resources", access.resource)
        and has("verbs", access.verb)
        and (not names or access.name in names)
    )


def _binds(binding: dict[str, Any], user: User) -> bool:
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "ServiceAccount":
            if user.name == f"system:serviceaccount:{subject.get('namespace')}:{name}":
                return True
        elif (kind == "User" and name == user.name) or (kind == "Group" and name in user.groups):
            return True
    return False


def allows(
    objects: dict[tuple[str, str, str, str], dict[str, Any]], user: User, access: Access
) -> bool:
    """Whether the RBAC objects among ``objects`` (the fake's store) allow ``access``."""
    rbac = "rbac.authorization.k8s.io"

    def role_rules(ref: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
        if ref.get("kind") == "ClusterRole":
            role = objects.get(("clusterroles", "", ref.get("name", ""), rbac))
        else:
            role = objects.get(("roles", namespace, ref.get("name", ""), rbac))
        return (role or {}).get("rules") or []

    for (plural, namespace, _, group), binding in objects.items():
        if group != rbac or not _binds(binding, user):
            continue
        if plural == "rolebindings" and namespace == access.namespace and access.namespace:
            rules = role_rules(binding.get("roleRef") or {}, namespace)
        elif plural == "clusterrolebindings":
            rules = role_rules(binding.get("roleRef") or {}, "")
        else:
            continue
        if any(_matches(rule, access) for rule in rules):
            return True
    return False


def forbidden_message(access: Access) -> str:
    """kube-apiserver's 403 message, which the project's error translation reads."""
    what = f"{access.resource}.{access.group}" if access.group else access.resource
    if access.name:
        what += f' "{access.name}"'
    scope = (
        f' in the namespace "{access.namespace}"' if access.namespace else " at the cluster scope"
    )
    return (
        f'{what} is forbidden: User "{access.user}" cannot {access.verb} '
        f'resource "{access.resource}" in API group "{access.group}"{scope}'
    )
