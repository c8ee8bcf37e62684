"""The API's refusals as errors that say what to do; a 403 names the missing permission."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

from llama_rollout.errors import RolloutError

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
