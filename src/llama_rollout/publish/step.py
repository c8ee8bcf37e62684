"""The publish step, on either target: the evaluated version becomes Lightspeed's provider.

It runs only when the gate passed. On OpenShift, under the publish Lease: the credentials
Secret, the merged OLSConfig, the operator's rollout and a question to Lightspeed through
the new provider (``lightspeed``), restored on failure; then the publication recorded on the
ModelVersion, and the versions it replaced retired (``versions``). On the embedded stack the
same merge goes into the stack's OLSConfig file (``embedded``). Both write the patch and the
resulting OLSConfig as files for the step's artifacts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llama_rollout.publish import budget, olsconfig
from llama_rollout.publish.olsconfig import Publication
from llama_rollout.publish.request import PublishRequest
from llama_rollout.targets import Target

logger = logging.getLogger(__name__)

NO_AUTH_CREDENTIAL = "no-auth-required"


@dataclass(frozen=True)
class Outcome:
    """What the step published, and the files that show it."""

    summary: str
    changed: bool
    files: dict[str, Path]
    retired: tuple[str, ...] = ()
    answer: str = ""


def write_files(output_dir: Path, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Path]:
    """The patch (a JSON merge patch of the object) and OLSConfig before and after."""
    output_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "patch": output_dir / "olsconfig-patch.json",
        "before": output_dir / "olsconfig-before.yaml",
        "olsconfig": output_dir / "olsconfig.yaml",
    }
    files["patch"].write_text(json.dumps(olsconfig.spec_patch(before, after), indent=2) + "\n")
    files["before"].write_text(yaml.safe_dump(before, sort_keys=False))
    files["olsconfig"].write_text(yaml.safe_dump(after, sort_keys=False))
    return files


def publish(target: Target, request: PublishRequest, output_dir: Path) -> Outcome:
    """Publish the version on ``target``; the outcome and its files."""
    budget.check_before_publishing(
        target,
        request.publication(),
        model_uri=request.model_uri,
        data_connection=request.data_connection,
    )
    if target is Target.LOCAL:
        return _publish_embedded(request, output_dir)
    from llama_rollout.publish import versions

    return versions.publish_on_openshift(request, output_dir)


def _publish_embedded(request: PublishRequest, output_dir: Path) -> Outcome:
    from llama_rollout.embedded.stack import EmbeddedStack
    from llama_rollout.publish import embedded

    publication = request.publication()
    path = embedded.olsconfig_file(EmbeddedStack().root)
    done = embedded.publish(path, publication, credential=NO_AUTH_CREDENTIAL)
    files = write_files(output_dir, done.before, done.after)
    summary = olsconfig.summary_line(publication)
    logger.info(
        "embedded OLSConfig (%s): %s (%s)",
        path,
        summary,
        "written" if done.changed else "already so",
    )
    logger.info(
        "provider %s answered Lightspeed's readiness question: %r",
        publication.provider.name,
        done.answer[:80],
    )
    record_on_version(
        request, publication, serving_name=request.serving_name or request.serving_model
    )
    return Outcome(summary, done.changed, files, answer=done.answer)


def record_on_version(
    request: PublishRequest, publication: Publication, *, serving_name: str
) -> Any:
    """The publication on the ModelVersion; the version it replaced marked retired. The
    registry client, for what follows (None when no version is named)."""
    from llama_rollout.registry import connect
    from llama_rollout.registry.publications import (
        RETIRED,
        PublicationRecord,
        live_version,
        mark,
        record_publication,
    )

    if not request.model_version_name:
        return None
    client = connect(request.registry.endpoint())
    previous = live_version(client, request.model_name)
    record_publication(
        client,
        request.model_name,
        request.model_version_name,
        PublicationRecord(
            provider=publication.provider.name,
            url=publication.provider.url,
            model=publication.provider.model,
            serving_name=serving_name,
            stack_name=request.stack_name,
            run_id=request.run_id,
            serving_url=request.serving_url,
            serving_model=request.serving_model,
            llama_stack_url=request.llama_stack_url,
            llama_stack_model_id=request.llama_stack_model_id,
        ),
    )
    if previous is not None and previous.name != request.model_version_name:
        mark(client, request.model_name, previous, RETIRED)
    logger.info(
        "publication recorded on %s version %s", request.model_name, request.model_version_name
    )
    return client
