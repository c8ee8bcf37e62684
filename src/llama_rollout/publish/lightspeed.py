"""Publishing on OpenShift: OLSConfig ``cluster`` read, merged, written, rolled, asked, or restored.

The sequence, each part a function here:

1. ``ensure_credentials``: the provider's Secret in ``openshift-lightspeed`` (server-side apply:
   the Secret is ours alone), with a non-empty ``apitoken``, checked here because the operator
   says nothing at all when it is missing (``rollout``); and ``ensure_mcp_header``, the MCP
   server's token as Lightspeed sends it, when the server requires one.
2. ``write_merged``: read OLSConfig, merge (``olsconfig.merged_spec``), and replace it with the
   resourceVersion read as a precondition; a Conflict (another writer in between) is read and
   merged again, so that writer's change is kept, not overwritten.
3. ``rollout.wait_rolled``: the operator has reconciled the new generation and its app server is up
   (``rollout.reconciled``), then the app server's Deployment has rolled out, so that no old
   pod answers with the old configuration (``rollout.app_server_rolled``).
4. ``question.ask``: one question to Lightspeed's ``/v1/query`` through the new provider and model, since
   its readiness probe only asks the default one.
5. On any failure after the write, ``restore`` writes the previous spec back, exactly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from llama_rollout.errors import RolloutError
from llama_rollout.kube.client import Kube
from llama_rollout.kube.errors import Conflict, KubeError, NotReady
from llama_rollout.kube.secrets import data_value
from llama_rollout.publish import olsconfig, rollout
from llama_rollout.publish.olsconfig import (
    API_VERSION,
    CREDENTIAL_KEY,
    KIND,
    NAME,
    NAMESPACE,
    Publication,
)
from llama_rollout.publish.question import (
    AppServerUnreachable,
    LightspeedMissing,
    OldConfiguration,
    PublishError,
    ask,
)

logger = logging.getLogger(__name__)

LIGHTSPEED_URL = f"https://lightspeed-app-server.{NAMESPACE}.svc:8443"
WRITE_ATTEMPTS = 5
OLD_CONFIGURATION_RETRY = 5.0  # seconds between questions while the old configuration answers
# A connection reset or refused just after a rollout (the old pod terminating behind the
# Service) is asked again, this many times in all.
UNREACHABLE_ATTEMPTS = 3


Right = tuple[str, str, str, str, str]  # verb, apiVersion, kind, name, namespace


@dataclass(frozen=True)
class Written:
    """One write of OLSConfig: the spec before and after, and the generation to wait for."""

    before: dict[str, Any]
    after: dict[str, Any]
    generation: int
    created: bool = False
    attempts: int = 1

    @property
    def changed(self) -> bool:
        return self.created or self.before != self.after


def read(kube: Kube) -> dict[str, Any] | None:
    """OLSConfig ``cluster``, or None when it does not exist (or its CRD is not installed)."""
    if not kube.serves(API_VERSION, KIND):
        return None
    return kube.get(API_VERSION, KIND, NAME)


def ensure_credentials(kube: Kube, provider: olsconfig.Provider, value: str) -> None:
    """The provider's credentials Secret, with ``value`` under ``apitoken``.

    Raises:
        PublishError: the Secret as stored has no non-empty ``apitoken``.
    """
    where = f"Secret {NAMESPACE}/{provider.secret_name}"
    if not value.strip() or not _apply_secret(kube, provider.secret_name, CREDENTIAL_KEY, value):
        raise _no_token(where)


def ensure_mcp_header(kube: Kube, server: olsconfig.McpServer, token: str) -> None:
    """The Secret Lightspeed reads the MCP server's ``Authorization`` from: the operator mounts
    it and the app server sends the key ``header`` as the header's whole value. A server whose
    header cannot be read is skipped with only a log line, so an empty one is refused here.

    Raises:
        PublishError: there is no token, or the Secret as stored has no ``header``.
    """
    if not token.strip() or not _apply_secret(
        kube, server.header_secret, olsconfig.MCP_HEADER_KEY, olsconfig.mcp_header(token)
    ):
        raise PublishError(
            f"Secret {NAMESPACE}/{server.header_secret} would have no usable key "
            f"{olsconfig.MCP_HEADER_KEY}: Lightspeed would skip MCP server {server.name} and "
            "say so only in its log",
            hint="give mcp_token_secret the Secret whose key token the MCP server requires",
        )


def _apply_secret(kube: Kube, name: str, key: str, value: str) -> str:
    """Secret ``name`` in ``NAMESPACE`` with ``value`` under ``key`` (server-side apply: the
    Secret is ours alone); the value as stored, which is what the operator will read."""
    stored = kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": NAMESPACE,
                "labels": {"app.kubernetes.io/managed-by": "llama-rollout"},
            },
            "type": "Opaque",
            "stringData": {key: value},
        }
    )
    return data_value(stored, key)


def _no_token(where: str) -> PublishError:
    return PublishError(
        f"{where} would have no usable key {CREDENTIAL_KEY}: the operator would not reconcile "
        "OLSConfig and would say nothing about why",
        hint="give the provider a non-empty credential (for lightspeed_endpoint=vllm, the "
        "token of the Secret lightspeed-model-client-token from manifests/lightspeed-publisher)",
    )


def write_merged(
    kube: Kube,
    publication: Publication,
    mcp_shape: olsconfig.McpShape | None,
    *,
    spec_schema: dict[str, Any] | None = None,
    create_missing: bool = False,
) -> Written:
    """Merge the publication into OLSConfig ``cluster`` and write it, retrying on a Conflict.

    Args:
        kube: the cluster.
        publication: what to merge.
        mcp_shape: the installed CRD's MCP server shape (``olsconfig.mcp_shape_of``).
        spec_schema: the installed CRD's schema of ``spec``, whose defaults the API server fills
            in: a merge that differs from what is stored only by them is no change.
        create_missing: create OLSConfig ``cluster`` (with the provider as its default) when
            there is none, instead of failing.

    Raises:
        LightspeedMissing: no OLSConfig ``cluster``, and ``create_missing`` is off.
        PublishError: still conflicting after ``WRITE_ATTEMPTS`` reads.
    """
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        current = read(kube)
        if current is None:
            return _create(kube, publication, mcp_shape, create_missing)
        before = current.get("spec") or {}
        after = olsconfig.merged_spec(before, publication, mcp_shape=mcp_shape)
        if olsconfig.with_defaults(after, spec_schema) == olsconfig.with_defaults(
            before, spec_schema
        ):  # what is stored already says it: no change, and none reported
            return Written(
                before, before, current["metadata"].get("generation", 1), attempts=attempt
            )
        try:
            written = kube.replace({**current, "spec": after})
        except Conflict:
            logger.info(
                "OLSConfig cluster changed while merging (attempt %d): merging again", attempt
            )
            continue
        return Written(before, after, written["metadata"]["generation"], attempts=attempt)
    raise PublishError(
        f"OLSConfig cluster kept changing: {WRITE_ATTEMPTS} writes in a row met a newer version",
        hint="another controller or user is editing it; run again once it is quiet",
    )


def _create(
    kube: Kube, publication: Publication, mcp_shape: olsconfig.McpShape | None, create: bool
) -> Written:
    if not create:
        raise missing()
    if not kube.serves(API_VERSION, KIND):
        raise LightspeedMissing(
            "the cluster does not serve OLSConfig: the OpenShift Lightspeed operator is not installed",
            hint="install it from OperatorHub (openshift-lightspeed) first",
        )
    default = Publication(
        publication.provider, make_default=True, mcp_server=publication.mcp_server
    )
    spec = olsconfig.merged_spec({}, default, mcp_shape=mcp_shape)
    created = kube.create(
        {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": NAME}, "spec": spec}
    )
    return Written({}, spec, created["metadata"].get("generation", 1), created=True)


def missing() -> LightspeedMissing:
    return LightspeedMissing(
        "there is no OLSConfig cluster: OpenShift Lightspeed is not installed or not set up",
        hint="install the OpenShift Lightspeed operator, or set lightspeed_create=true to "
        "create OLSConfig cluster with this model as its only provider",
    )


def restore(kube: Kube, previous: dict[str, Any]) -> None:
    """Write ``previous`` back as the spec of OLSConfig ``cluster``, exactly."""
    for _ in range(WRITE_ATTEMPTS):
        current = read(kube)
        if current is None:
            return
        if (current.get("spec") or {}) == previous:
            return
        try:
            kube.replace({**current, "spec": previous})
            return
        except Conflict:
            continue
    raise PublishError(
        "could not restore OLSConfig cluster: it kept changing while being restored",
        hint="compare it with the olsconfig-before artifact of this run and restore it by hand",
    )


@dataclass
class ClusterPublish:
    """The whole publication on a cluster, as ``publish`` runs it."""

    kube: Kube
    publication: Publication
    credential: str
    timeout: float
    lightspeed_url: str = LIGHTSPEED_URL
    token: str = ""
    ca_certs: str | None = None
    create_missing: bool = False
    mcp_token: str | None = None  # the MCP server's, when it requires one

    def run(self) -> tuple[Written, str]:
        """Publish; the write and Lightspeed's answer. On failure after the write, the
        previous spec is restored and the error says so."""
        provider = self.publication.provider
        # Everything that can refuse is asked before the first write.
        if read(self.kube) is None:
            if not self.create_missing:
                raise missing()
            self._check_may_create()
        schema = self.kube.schema_of(API_VERSION, KIND)
        shape = None
        if self.publication.mcp_server is not None:
            shape = olsconfig.mcp_shape_of(schema)
            if shape is None:
                raise olsconfig.no_mcp_servers()
            self.publication.mcp_server.as_entry(shape)  # what this CRD cannot hold, refused now
        self._check_rollout_rights()
        ensure_credentials(self.kube, provider, self.credential)
        server = self.publication.mcp_server
        if server is not None and server.header_secret:
            ensure_mcp_header(self.kube, server, self.mcp_token or "")
        spec_schema = ((schema or {}).get("properties") or {}).get("spec")
        written = write_merged(
            self.kube,
            self.publication,
            shape,
            spec_schema=spec_schema,
            create_missing=self.create_missing,
        )
        logger.info(
            "OLSConfig cluster: %s (%s)",
            olsconfig.summary_line(self.publication),
            "written" if written.changed else "already so",
        )
        try:
            answer = self._ask_once_rolled(written.generation)
        except (NotReady, KubeError, RolloutError) as exc:
            if not written.changed:
                raise
            self._restore(written)
            raise PublishError(
                f"Lightspeed did not take provider {provider.name} ({exc.message if isinstance(exc, RolloutError) else exc}); "
                "OLSConfig cluster was restored to its previous spec",
                hint=getattr(exc, "hint", None) or "see the conditions of OLSConfig cluster",
            ) from exc
        return written, answer

    def _ask_once_rolled(self, generation: int) -> str:
        """Wait for the rollout, then ask. The operator may report the generation reconciled
        before it restarts the app server (it compares the ConfigMap's resourceVersion from
        its cache, which can be stale, and restarts on the next reconcile: lightspeed-operator
        internal/controller/appserver/deployment.go ``updateOLSDeployment``), so an answer
        from the old configuration means: wait for the rollout again, until the deadline."""
        deadline = time.monotonic() + self.timeout
        unreachable = 0
        while True:
            rollout.wait_rolled(
                self.kube, generation, timeout=max(deadline - time.monotonic(), 1.0)
            )
            try:
                return ask(
                    self.lightspeed_url,
                    self.publication.provider.name,
                    self.publication.provider.model,
                    token=self.token,
                    ca_certs=self.ca_certs,
                )
            except (OldConfiguration, AppServerUnreachable) as exc:
                unreachable += isinstance(exc, AppServerUnreachable)
                if (
                    unreachable >= UNREACHABLE_ATTEMPTS
                    or time.monotonic() + OLD_CONFIGURATION_RETRY > deadline
                ):
                    raise
                logger.info("%s: asking again in %.0f s", exc.message, OLD_CONFIGURATION_RETRY)
                time.sleep(OLD_CONFIGURATION_RETRY)

    def _check_may_create(self) -> None:
        """Creating OLSConfig cluster (and deleting it, should the publication fail) takes
        rights the publisher's manifests do not grant: asked before anything is written."""
        if not self.kube.serves(API_VERSION, KIND):
            return  # _create says the operator is missing
        if lacking := self._refused(
            [("create", API_VERSION, KIND, "", ""), ("delete", API_VERSION, KIND, NAME, "")]
        ):
            raise PublishError(
                f"lightspeed_create is set, but the pipeline's service account may not "
                f"{' or '.join(r[0] for r in lacking)} OLSConfig cluster; nothing was written",
                hint="grant it with oc apply -k manifests/lightspeed-creator (edit the subject's "
                "namespace first), or create OLSConfig cluster yourself",
            )

    def _check_rollout_rights(self) -> None:
        """The wait for Lightspeed's rollout reads what an older manifests/lightspeed-publisher
        did not grant: asked before anything is written, not found out after the write."""
        if lacking := self._refused(
            [
                ("watch", "apps/v1", "Deployment", olsconfig.APP_SERVER, NAMESPACE),
                ("get", "v1", "ConfigMap", rollout.CONFIG_MAP, NAMESPACE),
                ("list", "v1", "Pod", "", NAMESPACE),
            ]
        ):
            raise PublishError(
                f"the pipeline's service account may not "
                f"{', '.join(f'{verb} {kind} {name}'.rstrip() for verb, _, kind, name, _ in lacking)} "
                f"in {NAMESPACE}, "
                "which the wait for Lightspeed's rollout reads; nothing was written",
                hint="apply the publisher's manifests again: oc apply -k manifests/lightspeed-publisher",
            )

    def _refused(self, rights: list[Right]) -> list[Right]:
        """The rights (verb, apiVersion, kind, name, namespace) the service account lacks."""
        return [right for right in rights if not self.kube.may(*right)]

    def _restore(self, written: Written) -> None:
        if written.created:
            self.kube.delete(API_VERSION, KIND, NAME)
            logger.warning("deleted OLSConfig cluster, which this run had created")
            return
        restore(self.kube, written.before)
        logger.warning("restored the previous spec of OLSConfig cluster")
