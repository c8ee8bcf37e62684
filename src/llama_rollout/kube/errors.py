"""The API's refusals as errors that say what to do; a 403 names the missing permission."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

from llama_rollout.bounds import KUBERNETES
from llama_rollout.errors import RolloutError, first_line

_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]+)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]+)" '
    r'in API group "(?P<group>[^"]*)"(?: in the namespace "(?P<namespace>[^"]+)")?'
)


class KubeError(RolloutError):
    """The Kubernetes API refused a request or a workload did not become ready."""


class PermissionDenied(KubeError):
    """A 403: the service account lacks a permission."""


class Conflict(KubeError):
    """A 409: the object changed since it was read (or already exists); read it again."""


class NotReady(KubeError):
    """A workload failed, or did not become ready before the deadline."""


@contextmanager
def translated_errors(what: str, api: str = "the Kubernetes API") -> Iterator[None]:
    """Turn the client's API exceptions into KubeErrors that say what to do.

    Args:
        what: the operation, for the message ("apply InferenceService ai/llama").
        api: the API server, for the message ("the Kubernetes API at https://...").
    """
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError
    from urllib3.exceptions import HTTPError, NewConnectionError
    from urllib3.exceptions import TimeoutError as Timeout

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
        if status == 409:
            raise Conflict(f"cannot {what}: {message}") from exc
        if status == 404 and "namespaces" in message and "not found" in message:
            raise KubeError(
                f"cannot {what}: {message}", hint="create the namespace or fix its name"
            ) from exc
        raise KubeError(f"cannot {what}: {message} (HTTP {status})") from exc
    except HTTPError as exc:
        cause = getattr(exc, "reason", None) or exc
        if isinstance(cause, Timeout) and not isinstance(cause, NewConnectionError):
            raise KubeError(
                f"cannot {what}: {api} did not answer within {KUBERNETES.total:.0f}s",
                hint="check the cluster URL in your kubeconfig and that the cluster is up",
            ) from exc
        raise KubeError(
            f"cannot {what}: {api} is unreachable ({first_line(exc)})",
            hint="check the cluster URL in your kubeconfig and that you are logged in",
        ) from exc


def _status_message(exc: Exception) -> str:
    """The ``message`` of the API's Status body, else the HTTP reason."""
    try:
        return str(json.loads(exc.body)["message"])  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError, KeyError):
        return str(getattr(exc, "reason", "") or exc).strip()
