"""Model sources: where weights come from, pinned to an immutable revision.

Two kinds of source URI:

* ``hf://ORG/REPO[@REVISION]``: a Hugging Face hub repository, or any hub-compatible server
  named by ``HF_ENDPOINT``; the token comes from ``HF_TOKEN``. Resolving asks the hub for the
  commit sha of REVISION (default ``main``) and the file list with sizes, LFS sha256 and git
  blob ids; files are then always read at that commit, never at a moving branch.
* ``file:///PATH``: a model folder. Its revision is a digest of every file's path, size and
  sha256, so a changed file gives a new revision.
"""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import unquote, urlparse

from llama_rollout import redaction
from llama_rollout.bounds import HUB_API, EndpointSilent
from llama_rollout.deadline import deadline, httpx_timeout, watch_httpx
from llama_rollout.errors import ConfigurationError, SourceError, SourceNotFoundError, first_line
from llama_rollout.k8s_types import model_name_from, model_name_problem
from llama_rollout.weights.folder import resolve_folder
from llama_rollout.weights.inputs import endpoint_problem
from llama_rollout.weights.model_files import (
    ResolvedSource,
    SourceFile,
    SourceSpec,
    select_serving_files,
)

logger = logging.getLogger(__name__)

DEFAULT_HF_ENDPOINT = "https://huggingface.co"

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_SOURCE_FORMS = "hf://ORG/REPO[@REVISION] or file:///ABSOLUTE/PATH"
MAX_URI_LENGTH = 1024


def parse_source_uri(uri: str) -> SourceSpec:
    """Parse a source URI.

    Args:
        uri: ``hf://ORG/REPO[@REVISION]`` or ``file:///ABSOLUTE/PATH``.

    Returns:
        The parsed spec.

    Raises:
        ConfigurationError: the URI is not one of the two forms.
    """
    uri = uri.strip()
    if len(uri) > MAX_URI_LENGTH:
        raise ConfigurationError(
            f"the source URI is {len(uri)} characters long ({uri[:40]!r}...)",
            hint=f"expected {_SOURCE_FORMS}, at most {MAX_URI_LENGTH} characters",
        )
    if uri.startswith("hf://"):
        body = uri[len("hf://") :]
        repo_id, _, revision = body.partition("@")
        if not _REPO_ID.match(repo_id):
            raise ConfigurationError(
                f"malformed source URI {uri!r}",
                hint=f"expected {_SOURCE_FORMS}, e.g. hf://meta-llama/Llama-3.2-3B-Instruct",
            )
        if "@" in body and not _REVISION.match(revision):
            raise ConfigurationError(
                f"malformed revision {revision!r} in source URI {uri!r}",
                hint="give a branch, tag or commit sha after '@', e.g. hf://ORG/REPO@main",
            )
        return SourceSpec("hf", repo_id, revision or None)
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        path = unquote(parsed.path)
        if parsed.netloc not in ("", "localhost") or not path.startswith("/"):
            raise ConfigurationError(
                f"malformed source URI {uri!r}",
                hint="a folder URI has three slashes and an absolute path: file:///models/llama",
            )
        if ".." in path.split("/"):
            raise ConfigurationError(
                f"the folder in source URI {uri!r} has a '..' segment",
                hint="give the model folder's path without '..', e.g. file:///models/llama",
            )
        return SourceSpec("file", path)
    raise ConfigurationError(f"unsupported source URI {uri!r}", hint=f"expected {_SOURCE_FORMS}")


def check_model_name(name: str) -> str:
    """``name`` when it can name a model everywhere (S3, registry, Kubernetes, disk).

    Raises:
        ConfigurationError: it cannot, with the rule and a name that would do.
    """
    if problem := model_name_problem(name):
        # A name derived from a secret (password=..., a token) would show it, lower-cased.
        suggestion = model_name_from(name) if redaction.redact(name) == name else "my-model"
        raise ConfigurationError(
            f"invalid model name: {problem}",
            hint=f"use a name such as {suggestion!r} (it names the InferenceService, "
            "the S3 folder and the RegisteredModel)",
        )
    return name


HUB_HINT = "check HF_ENDPOINT and the network, or mirror from a file:// folder"


def hf_endpoint() -> str:
    """The hub base URL: ``HF_ENDPOINT`` or huggingface.co.

    Raises:
        ConfigurationError: ``HF_ENDPOINT`` is not an http(s) URL, its port is none, or it
            carries credentials (see ``inputs``).
    """
    endpoint = os.environ.get("HF_ENDPOINT") or DEFAULT_HF_ENDPOINT
    if problem := endpoint_problem("HF_ENDPOINT", endpoint):
        raise ConfigurationError(
            problem, hint="a hub's base URL, e.g. https://huggingface.co; or unset HF_ENDPOINT"
        )
    return endpoint.rstrip("/")


def hf_token() -> str | None:
    """The hub token from ``HF_TOKEN``, or None for anonymous access."""
    token = os.environ.get("HF_TOKEN") or None
    redaction.remember(token)
    return token


def resolve(spec: SourceSpec) -> ResolvedSource:
    """Pin a source to an immutable revision and list its files.

    Args:
        spec: a parsed source URI.

    Returns:
        The resolved source; its files are the ones a vLLM server needs.

    Raises:
        SourceNotFoundError: the repository, revision or folder does not exist.
        SourceError: the hub could not be reached or answered with an error.
    """
    if spec.kind == "file":
        return resolve_folder(spec)
    return _resolve_hub(spec)


def _resolve_hub(spec: SourceSpec) -> ResolvedSource:
    import httpx2
    from huggingface_hub import HfApi, get_session
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = hf_endpoint()
    api = HfApi(endpoint=endpoint, token=hf_token() or False)
    watch_httpx(get_session())  # the client huggingface_hub shares, made on its first use
    try:
        # The read timeout bounds each wait for a byte; the deadline, the whole answer.
        with deadline(HUB_API.total, httpx_timeout):
            info = api.model_info(
                spec.location, revision=spec.revision, files_metadata=True, timeout=HUB_API.read
            )
    except GatedRepoError as exc:
        raise SourceNotFoundError(
            f"{spec} is gated and this token has no access",
            hint="accept the model's licence on the hub and set HF_TOKEN to a token of that account",
        ) from exc
    except RevisionNotFoundError as exc:
        raise SourceNotFoundError(
            f"revision {spec.revision!r} not found in {spec.location} at {endpoint}",
            hint="give an existing branch, tag or commit sha after '@'",
        ) from exc
    except RepositoryNotFoundError as exc:
        raise SourceNotFoundError(
            f"repository {spec.location} not found at {endpoint}",
            hint="check the ORG/REPO spelling; for a private or gated repo set HF_TOKEN",
        ) from exc
    except HfHubHTTPError as exc:
        # huggingface_hub maps a 401 to RepositoryNotFoundError on https endpoints only; the
        # hub answers 401 for a private repo without a token and for a token it rejects.
        if exc.response is not None and exc.response.status_code == 401:
            if "Invalid credentials" in str(exc):
                raise SourceError(
                    f"the hub at {endpoint} rejected HF_TOKEN for {spec}",
                    hint="the token is invalid or expired: create a new one on the hub",
                ) from exc
            raise SourceNotFoundError(
                f"repository {spec.location} not found at {endpoint}",
                hint="check the ORG/REPO spelling; for a private or gated repo set HF_TOKEN",
            ) from exc
        raise SourceError(
            f"the hub at {endpoint} refused model info for {spec}: {first_line(exc)}"
        ) from exc
    except httpx2.TimeoutException as exc:  # a read timeout, or the total
        raise EndpointSilent("the hub", endpoint, HUB_API.total, hint=HUB_HINT) from exc
    except (httpx2.TransportError, OSError) as exc:
        raise SourceError(
            f"cannot reach the hub at {endpoint}: {first_line(exc)}", hint=HUB_HINT
        ) from exc
    except ValueError as exc:  # an answer that is not the hub's JSON (an HTML page, say)
        raise SourceError(
            f"{endpoint} did not answer as a Hugging Face hub does ({first_line(exc)})",
            hint=HUB_HINT,
        ) from exc
    if not info.sha:
        raise SourceError(f"the hub at {endpoint} gave no commit sha for {spec}")

    by_path = {s.rfilename: s for s in info.siblings or []}
    kept, skipped = select_serving_files(sorted(by_path))
    files = []
    for path in kept:
        sibling = by_path[path]
        lfs = sibling.lfs
        size = lfs.size if lfs else sibling.size
        if size is None:
            raise SourceError(
                f"the hub at {endpoint} gave no size for {path} in {spec}",
                hint="the server must answer /api/models/REPO?blobs=true with file sizes",
            )
        files.append(
            SourceFile(
                path=path,
                size=size,
                sha256=lfs.sha256 if lfs else None,
                git_blob_id=None if lfs else sibling.blob_id,
            )
        )
    if not files:
        raise SourceNotFoundError(f"{spec} has no model files at revision {info.sha}")
    logger.info(
        "resolved %s to revision %s: %d files, %.1f MiB",
        spec,
        info.sha,
        len(files),
        sum(f.size for f in files) / 2**20,
    )
    return ResolvedSource(spec, info.sha, tuple(files), tuple(skipped))
