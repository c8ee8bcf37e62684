"""A key of a Secret, read where the step runs: through the API on a cluster, from the folder
``LLAMA_ROLLOUT_SECRETS_DIR`` names on the embedded stack.

The embedded stack has no API server; it keeps each Secret as a folder with a file per key,
the layout of a mounted Secret volume (``<dir>/<name>/<key>``), and gives its steps that folder
as it gives them ``KF_PIPELINES_SA_TOKEN_PATH``: the same code reads the same Secret on both
targets. A value read is remembered for redaction before it is returned.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from llama_rollout import redaction
from llama_rollout.kube.client import Kube, api_client, current_namespace
from llama_rollout.user_files import read_user_file

SECRETS_DIR_ENV = "LLAMA_ROLLOUT_SECRETS_DIR"
VALUE_LIMIT = 64 * 1024  # a token or a header, never a bundle


def embedded_secrets_dir() -> Path | None:
    """The embedded stack's Secrets folder, when this step runs on it."""
    configured = os.environ.get(SECRETS_DIR_ENV, "").strip()
    return Path(configured) if configured else None


def data_value(secret: dict[str, Any], key: str) -> str:
    """The value of ``key`` in a Secret object's ``data``, decoded and stripped; empty when
    the key is missing."""
    encoded = (secret.get("data") or {}).get(key) or ""
    return base64.b64decode(encoded).decode(errors="replace").strip()


def secret_key(namespace: str, name: str, key: str, *, kube: Kube | None = None) -> str | None:
    """The value of ``key`` in Secret ``namespace/name`` (stripped); None when the Secret or
    the key is missing or empty. ``namespace`` empty is this pod's own."""
    folder = embedded_secrets_dir()
    if folder is not None and kube is None:
        path = folder / name / key
        if not path.exists():
            return None
        raw = read_user_file(
            str(path),
            what=f"Secret {name}'s key {key}",
            limit=VALUE_LIMIT,
            hint="run `llama-rollout local up`, which writes the embedded stack's Secrets",
        )
        value = raw.decode(errors="replace").strip()
    else:
        kube = kube or Kube(api_client())
        secret = kube.get("v1", "Secret", name, namespace or current_namespace()) or {}
        value = data_value(secret, key)
    redaction.remember(value or None)
    return value or None
