"""What a publication leaves behind: its files (the patch, OLSConfig before and after) and its
record on the ModelVersion, on either target."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml

from llama_rollout.publish import olsconfig
from llama_rollout.publish.olsconfig import Publication
from llama_rollout.publish.request import PublishRequest
from llama_rollout.registry import connect
from llama_rollout.registry.publications import (
    RETIRED,
    PublicationRecord,
    live_version,
    mark,
    record_publication,
)

logger = logging.getLogger(__name__)


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


def record_on_version(
    request: PublishRequest, publication: Publication, *, serving_name: str
) -> Any:
    """The publication on the ModelVersion; the version it replaced marked retired. The
    registry client, for what follows (None when no version is named)."""
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
