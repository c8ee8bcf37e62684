"""The embedded stack's service-account tokens: who each token is, kept in a token book.

The token authority (``token_authority``) answers Llama Stack's SelfSubjectReviews from this
book; the stack's steps, notebooks and publish step read their tokens from it. Kept apart from
the server so that a pod, which has no FastAPI, can import what names identities.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_rollout import redaction
from llama_rollout.errors import ConfigurationError
from llama_rollout.kube.identity import service_account, service_account_namespace
from llama_rollout.stack.access import PIPELINE_RUNNER_ACCOUNT
from llama_rollout.stack.settings import LIGHTSPEED_MODEL_CLIENT_ACCOUNT, MODEL_CLIENT_ACCOUNT

AUTHENTICATED = "system:authenticated"


@dataclass(frozen=True)
class Identity:
    """Who a token is: the user name and groups a SelfSubjectReview answers."""

    username: str
    groups: tuple[str, ...]
    uid: str

    @classmethod
    def of_service_account(cls, namespace: str, name: str) -> Identity:
        groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED)
        return cls(service_account(namespace, name), groups, str(uuid.uuid4()))

    @classmethod
    def of_principal(cls, username: str) -> Identity:
        """The identity of a user name: a service account's groups when it names one."""
        namespace = service_account_namespace(username)
        name = username.rpartition(":")[2]
        return cls.of_service_account(namespace, name) if namespace else cls.of_user(username)

    @classmethod
    def of_user(cls, name: str, groups: tuple[str, ...] = ()) -> Identity:
        """An OpenShift user, as its OAuth token authenticates it."""
        return cls(name, (*groups, f"{AUTHENTICATED}:oauth", AUTHENTICATED), str(uuid.uuid4()))

    def user_info(self) -> dict[str, Any]:
        return {"username": self.username, "uid": self.uid, "groups": list(self.groups)}


class TokenBook:
    """The tokens the authority knows, in one file (mode 0600) of the state folder.

    Each identity gets one random token when first asked for, and keeps it: a token handed to a
    notebook stays valid across ``local up``. Each token is also written alone to a file of its
    own, for the clients that read a token file (``KF_PIPELINES_SA_TOKEN_PATH``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def issue(self, identity: Identity) -> Path:
        """The token file of ``identity``, minting its token when it has none."""
        entries = self._entries()
        entry = entries.get(identity.username)
        token_file = self.token_file(identity.username)
        if entry is None or list(entry["groups"]) != list(identity.groups):
            token = entry["token"] if entry else secrets.token_hex(32)
            entries[identity.username] = {**identity.user_info(), "token": token}
            write_private(self.path, json.dumps(entries, indent=2))
        elif token_file.exists():
            return token_file  # minted and written before: every step's environment asks
        write_private(token_file, entries[identity.username]["token"])
        return token_file

    def token(self, identity: Identity) -> str:
        """The token of ``identity``, minting it when it has none."""
        token = self.issue(identity).read_text()
        redaction.remember(token)
        return token

    def token_file(self, username: str) -> Path:
        return self.path.parent / "tokens" / username.replace(":", "_")

    def identity_of(self, token: str) -> Identity | None:
        """Who ``token`` is; compared in constant time, as the token is a secret."""
        found = None
        for entry in self._entries().values():
            if hmac.compare_digest(entry["token"].encode(), token.encode()):
                found = Identity(entry["username"], tuple(entry["groups"]), entry["uid"])
        return found

    def _entries(self) -> dict[str, dict[str, Any]]:
        try:
            entries = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"the token book {self.path} cannot be read: {exc}",
                hint="remove it and run `llama-rollout local up`: the tokens are minted again",
            ) from exc
        return entries if isinstance(entries, dict) else {}


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner alone, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp makes the file 0600, under a name of its own: two writers never share one.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


# The embedded stack's callers are named as on a cluster with the pipeline's defaults.
NAMESPACE = "self-healing-platform"
PIPELINE_RUNNER = Identity.of_service_account(NAMESPACE, PIPELINE_RUNNER_ACCOUNT)


def llama_stack_model_client(namespace: str) -> Identity:
    """Llama Stack's identity towards vLLM: the account whose token Secret a cluster mounts."""
    return Identity.of_service_account(namespace, MODEL_CLIENT_ACCOUNT)


def model_clients(namespace: str) -> tuple[Identity, ...]:
    """Who may call a vLLM with auth on in ``namespace``: on a cluster, whoever may ``get`` its
    InferenceService, which the manifests grant the pipeline's runner, Llama Stack's model
    client and Lightspeed's (manifests/pipeline-runner, manifests/lightspeed-publisher)."""
    return (
        PIPELINE_RUNNER,
        llama_stack_model_client(namespace),
        Identity.of_service_account(namespace, LIGHTSPEED_MODEL_CLIENT_ACCOUNT),
    )
