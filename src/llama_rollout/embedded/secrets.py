"""The embedded stack's Secrets: a folder per Secret, a file per key (mode 0600), the layout
of a mounted Secret volume, read by ``kube.secrets`` on behalf of the steps."""

from __future__ import annotations

import secrets
from pathlib import Path

from llama_rollout import redaction
from llama_rollout.embedded.service_accounts import write_private


def write_secret(folder: Path, name: str, key: str, value: str) -> None:
    """Secret ``name`` in ``folder`` with ``value`` under ``key``, readable by its owner alone."""
    redaction.remember(value)
    write_private(folder / name / key, value)


def ensure_token(folder: Path, name: str, key: str = "token") -> str:
    """The token of Secret ``name``, minted the first time: kept across ``local up``, as a
    Secret on a cluster outlives the pods that read it."""
    path = folder / name / key
    token = path.read_text().strip() if path.exists() else ""
    if not token:
        token = secrets.token_hex(32)
        write_secret(folder, name, key, token)
    redaction.remember(token)
    return token
