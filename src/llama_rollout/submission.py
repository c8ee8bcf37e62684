"""Runs and recurring runs on a Data Science Pipelines server, through the official ``kfp.Client``.

``submit`` starts one run of the compiled pipeline; ``schedule`` creates a recurring run
(a 6-field cron, seconds first, as the pipelines API reads it) that re-deploys the model
whenever its source moves: each run resolves the source first and finishes in seconds when
nothing changed. Both check the run's parameters first, as its first step would, so a bad one
fails here and not on the cluster. The bearer token comes from the environment or a file,
never from a flag: it would land in the shell's history.

Every request is bounded (``bounds.PIPELINES_API``); kfp's own health probe, which retries
for half a minute, is replaced by one bounded request. That request also reads the server's
version, and a server too old to run the pipeline is refused before anything is sent to it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llama_rollout import redaction
from llama_rollout.bounds import CONNECT, PIPELINES_API, EndpointSilent
from llama_rollout.cron import check_cron
from llama_rollout.deadline import bounded_pools
from llama_rollout.errors import ConfigurationError, RolloutError, first_line
from llama_rollout.http_urls import check_http_url
from llama_rollout.json_http import request_json
from llama_rollout.parameters import check_parameters
from llama_rollout.pipeline_run import pipeline_parameters
from llama_rollout.user_files import TOKEN_FILE_LIMIT, read_ca_bundle, read_user_file

logger = logging.getLogger(__name__)

TOKEN_ENV = "KF_PIPELINES_TOKEN"  # noqa: S105 - the variable's name
DEFAULT_EXPERIMENT = "llama-rollout"
# The exit handler takes a PipelineTaskFinalStatus: backends before KFP 2.14.0 refuse the run
# ("task final status not supported yet", kubeflow/pipelines#11641, fixed by #11953); and
# kfp-kubernetes writes `optional: false` on every secret mount, which upstream drivers before
# 2.15.0 refuse as an unknown field (#12495, supported from #12216).
MINIMUM_BACKEND = (2, 15, 0)
# The API server's healthz says TAG_NAME, the version it was built as ("2.17.0"), or "unknown"
# when the build gave none (backend/src/apiserver/main.go, backend/Dockerfile); Red Hat's
# builds set none.
_RELEASE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


class PipelinesError(RolloutError):
    """The pipelines server refused or failed a request."""


@dataclass(frozen=True)
class PipelinesServer:
    """A Data Science Pipelines server: its API's URL, the project it runs in, and a token."""

    host: str
    namespace: str
    token: str
    ca_cert: str | None = None

    @classmethod
    def from_arguments(
        cls, host: str, namespace: str, *, token_file: str | None, ca_cert: str | None
    ) -> PipelinesServer:
        """The server from the CLI's arguments; the token from ``token_file`` or $KF_PIPELINES_TOKEN."""
        check_http_url(
            "--host", host, credentials=f"the token goes in ${TOKEN_ENV} or --token-file"
        )
        hint = f"export {TOKEN_ENV}=$(oc whoami -t), or give --token-file"
        if token_file:
            raw = read_user_file(token_file, what="token file", limit=TOKEN_FILE_LIMIT, hint=hint)
            token = raw.decode(errors="replace").strip()
        else:
            token = os.environ.get(TOKEN_ENV, "").strip()
        redaction.remember(token)
        if not token.isprintable() or " " in token:
            source = f"the token file {token_file}" if token_file else f"${TOKEN_ENV}"
            raise ConfigurationError(
                f"{source} holds more than a token (spaces, several lines or binary data)",
                hint="give the token alone: oc whoami -t",
            )
        if not token:
            where = f": the token file {token_file} is empty" if token_file else ""
            raise ConfigurationError(f"no token for the pipelines server{where}", hint=hint)
        if ca_cert:
            read_ca_bundle(
                ca_cert,
                what="CA file",
                limit=TOKEN_FILE_LIMIT * 16,
                hint="give the PEM bundle of the route's CA",
            )
        return cls(host.rstrip("/"), namespace, token, ca_cert)

    def client(self) -> Any:
        """A ``kfp.Client`` whose every request is bounded, after one bounded health check."""
        import kfp
        import urllib3

        with _translated("connect to", self), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP v2.0.0-beta.2+"
            client = kfp.Client(
                host=self.host,
                existing_token=self.token,
                namespace=self.namespace,
                ssl_ca_cert=self.ca_cert,
            )
        rest = client._run_api.api_client.rest_client  # shared by every API of the client
        unbounded = rest.request

        def bounded(*args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
            return unbounded(
                *args, _request_timeout=_request_timeout or (CONNECT, PIPELINES_API.read), **kwargs
            )

        rest.request = bounded
        # Each request, the upload's body and the whole answer included, within the sum of its
        # timeouts (PIPELINES_API.total), however slowly the bytes come.
        bounded_pools(rest.pool_manager)
        # A connection that fails is tried twice more; an answer that does not come, never.
        rest.pool_manager.connection_pool_kw["retries"] = urllib3.Retry(
            connect=2, read=0, status=0, other=0, redirect=0
        )
        self.check_health()
        return client

    def check_health(self) -> None:
        """One bounded look at ``/apis/v2beta1/healthz``: it must be the pipelines API's answer
        (a login page or a router's default page answers 200 too)."""
        status, answer = request_json(
            "GET",
            f"{self.host}/apis/v2beta1/healthz",
            bound=PIPELINES_API,
            what="the pipelines server",
            token=self.token,
            ca_certs=self.ca_cert,
            unreachable=PipelinesError,
        )
        if status in (401, 403):
            raise PipelinesError(
                f"the pipelines server at {self.host} refused the token (HTTP {status})",
                hint=f"log in again and export {TOKEN_ENV}=$(oc whoami -t)",
            )
        if status != 200 or not isinstance(answer, dict) or "multi_user" not in answer:
            raise PipelinesError(
                f"{self.host} is not a pipelines API: /apis/v2beta1/healthz answered {status} "
                f"{redaction.excerpt(answer, 80)!r}",
                hint="give the pipeline server's route (oc get route ds-pipeline-dspa -n "
                f"{self.namespace} -o jsonpath='{{.spec.host}}')",
            )
        self.check_version(str(answer.get("tag_name") or ""))

    def check_version(self, tag_name: str) -> None:
        """Refuse a server older than ``MINIMUM_BACKEND``; warn when it does not say its version."""
        release = _RELEASE.match(tag_name.strip())
        minimum = ".".join(map(str, MINIMUM_BACKEND))
        if release is None:
            logger.warning(
                "the pipelines server at %s does not say its version (tag_name %r): this "
                "pipeline needs KFP %s or newer; if a run fails with 'task final status not "
                "supported yet' or 'unknown field \"optional\"', upgrade the pipeline server",
                self.host,
                tag_name[:40],
                minimum,
            )
            return
        version = tuple(int(part) for part in release.groups())
        said = release.group(0)  # what follows the version is the server's, and may be anything
        if version < MINIMUM_BACKEND:
            raise PipelinesError(
                f"the pipelines server at {self.host} runs KFP {said}, older than {minimum}, "
                "the oldest that runs this pipeline (its exit handler's final status, its secret "
                "mounts' optional field)",
                hint=f"upgrade the pipeline server to KFP {minimum} or newer, or give --host of "
                "one that is",
            )


class _translated:
    """The client's failures as PipelinesErrors that say what to do."""

    def __init__(self, what: str, server: PipelinesServer) -> None:
        self.what, self.server = what, server

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, _tb: Any) -> Literal[False]:
        if exc is None or isinstance(exc, RolloutError):
            return False
        import kfp_server_api
        import urllib3

        where = f"the pipelines server at {self.server.host}"
        if isinstance(exc, kfp_server_api.ApiException):
            status = exc.status
            hint = {
                401: f"the token was refused: log in again and export {TOKEN_ENV}=$(oc whoami -t)",
                403: f"your user may not use the pipelines of project {self.server.namespace}: "
                "ask for the edit role there",
                404: "check --host: give the pipeline server's route (oc get route -n "
                f"{self.server.namespace} ds-pipeline-dspa)",
            }.get(status, "see the message; fix the request and try again")
            raise PipelinesError(
                f"cannot {self.what} {where}: HTTP {status}: {_message(exc)}", hint=hint
            ) from exc
        if isinstance(exc, urllib3.exceptions.ReadTimeoutError) or (
            isinstance(exc, urllib3.exceptions.MaxRetryError)
            and isinstance(exc.reason, urllib3.exceptions.ReadTimeoutError)
        ):
            raise EndpointSilent(
                "the pipelines server", self.server.host, PIPELINES_API.total
            ) from exc
        if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
            raise PipelinesError(
                f"cannot {self.what} {where}: {first_line(exc)}",
                hint="check --host and that you can reach the cluster",
            ) from exc
        return False


def _message(exc: Any) -> str:
    import json

    try:
        body = json.loads(exc.body)
        return redaction.excerpt(body.get("message") or body.get("error") or body, 300)
    except (TypeError, ValueError, AttributeError):
        return redaction.excerpt(getattr(exc, "reason", "") or exc, 300)


@contextlib.contextmanager
def _package(image: str | None) -> Iterator[Path]:
    """The compiled pipeline, in a folder removed once it is uploaded (or not)."""
    from pipelines.compile import compile_pipeline

    with tempfile.TemporaryDirectory(prefix="llama-rollout-") as folder:
        out = Path(folder) / "llama-rollout.yaml"
        if image:
            compile_pipeline(out, image=image)
        else:
            compile_pipeline(out)
        yield out


def _checked(parameters: dict[str, Any]) -> dict[str, Any]:
    """The values given, checked with every default as the run's first step will check them."""
    check_parameters(pipeline_parameters(**parameters))
    return parameters


@dataclass(frozen=True)
class Submitted:
    """A run or recurring run the server accepted."""

    id: str
    name: str
    url: str


def submit(
    server: PipelinesServer,
    parameters: dict[str, Any],
    *,
    run_name: str,
    experiment: str = DEFAULT_EXPERIMENT,
    image: str | None = None,
) -> Submitted:
    """Start one run of the pipeline on ``server``."""
    values = _checked(parameters)
    client = server.client()
    with _package(image) as package, _translated("start a run on", server):
        result = client.create_run_from_pipeline_package(
            str(package),
            arguments=values,
            run_name=run_name,
            experiment_name=experiment,
            namespace=server.namespace,
            enable_caching=False,
        )
    run_id = result.run_id
    if not run_id:
        raise PipelinesError(f"the pipelines server at {server.host} answered without a run id")
    logger.info("started run %s (%s) in experiment %s", run_name, run_id, experiment)
    return Submitted(run_id, run_name, f"{server.host}/#/runs/details/{run_id}")


def schedule(
    server: PipelinesServer,
    parameters: dict[str, Any],
    *,
    name: str,
    cron: str,
    experiment: str = DEFAULT_EXPERIMENT,
    image: str | None = None,
    max_concurrency: int = 1,
) -> Submitted:
    """Create a recurring run of the pipeline on ``server`` (one run at a time, no catch-up)."""
    check_cron(cron)
    if not 1 <= max_concurrency <= 10:
        raise ConfigurationError(
            f"max concurrency {max_concurrency} is outside 1..10, the pipelines API's bounds"
        )
    values = _checked(parameters)
    client = server.client()
    with _package(image) as package, _translated("create a recurring run on", server):
        found = client.create_experiment(name=experiment, namespace=server.namespace)
        result = client.create_recurring_run(
            experiment_id=found.experiment_id,
            job_name=name,
            cron_expression=cron,
            pipeline_package_path=str(package),
            params=values,
            max_concurrency=max_concurrency,
            no_catchup=True,
            enabled=True,
            enable_caching=False,
        )
    recurring_id = result.recurring_run_id
    if not recurring_id:
        raise PipelinesError(f"the pipelines server at {server.host} answered without an id")
    logger.info("created recurring run %s (%s): %s", name, recurring_id, cron)
    return Submitted(recurring_id, name, f"{server.host}/#/recurringruns/details/{recurring_id}")
