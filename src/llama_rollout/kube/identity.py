"""Who a pod is: its service account's user name, and its token, which its calls to vLLM, the Model Registry and
Llama Stack carry (on the embedded stack, the token the stack's authority minted for the
pipeline's runner, through ``KF_PIPELINES_SA_TOKEN_PATH``)."""

from __future__ import annotations

import os
from pathlib import Path

from llama_rollout import redaction
from llama_rollout.kube.client import Kube
from llama_rollout.kube.errors import KubeError, translated_errors
from llama_rollout.user_files import TOKEN_FILE_LIMIT, read_user_file

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def service_account(namespace: str, name: str) -> str:
    """A service account's user name, as the API server gives it (and Llama Stack's principal)."""
    return f"system:serviceaccount:{namespace}:{name}"


def service_account_namespace(username: str) -> str:
    """The namespace of a service account's user name; '' for any other user."""
    kind, _, rest = username.partition(":serviceaccount:")
    return rest.partition(":")[0] if kind == "system" else ""


def service_account_token() -> str | None:
    """The pod's service-account token (or ``KF_PIPELINES_SA_TOKEN_PATH``'s), if there is one."""
    path = os.environ.get("KF_PIPELINES_SA_TOKEN_PATH") or str(SERVICE_ACCOUNT_DIR / "token")
    if not os.path.lexists(path):
        return None
    raw = read_user_file(
        path,
        what="service-account token file",
        limit=TOKEN_FILE_LIMIT,
        hint="point KF_PIPELINES_SA_TOKEN_PATH at a file with the token alone",
    )
    token = raw.decode(errors="replace").strip() or None
    redaction.remember(token)
    return token


def who_am_i(kube: Kube) -> str:
    """The user name the API server gives ``kube``'s credentials (a SelfSubjectReview, which
    every authenticated user may ask): Llama Stack admits the pipeline's runner by that name.

    Raises:
        KubeError: the API server answers no user name.
    """
    from kubernetes import client as k8s

    with translated_errors("ask the API server who it is", kube.where):
        answer = k8s.AuthenticationV1Api(kube.dynamic.client).create_self_subject_review(
            k8s.V1SelfSubjectReview()
        )
    user = answer.status.user_info if answer.status else None
    if not (user and user.username):
        raise KubeError(
            "the API server's SelfSubjectReview names no user for this step's credentials",
            hint="the step runs as the pipeline's service account: check that its token is "
            "mounted (automountServiceAccountToken)",
        )
    return str(user.username)
