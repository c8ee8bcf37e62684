"""Where an evaluation's files go: beside the model it evaluated, in the data connection's bucket.

``s3://BUCKET/PREFIX/<model>/<revision>/evals/<run>/`` holds ``results.jsonl`` (one line per
case trial: the trajectory and its score), ``report.html`` and ``summary.md``. The folder is
inside the model's prefix, so the model and what is known of it move together; the manifest
does not list it, so the mirror's checks, ``verify`` and the serving step ignore it, and vLLM
reads only the model's own files.
"""

from __future__ import annotations

import re
from pathlib import Path

from llama_rollout.errors import ConfigurationError, StorageError, first_line
from llama_rollout.weights.connection import DataConnection, storage_error
from llama_rollout.weights.manifest import split_s3_uri

CONTENT_TYPES = {".jsonl": "application/x-ndjson", ".html": "text/html", ".md": "text/markdown"}
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def upload_results(
    connection: DataConnection, model_uri: str, run_id: str, files: dict[str, Path]
) -> dict[str, str]:
    """Upload the evaluation's files; returns each one's ``s3://`` URI by name."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not _RUN_ID.match(run_id):
        raise ConfigurationError(f"run id {run_id[:80]!r} cannot name a folder in S3")
    bucket, prefix = split_s3_uri(model_uri)
    folder = f"{prefix.rstrip('/')}/evals/{run_id}/"
    client = connection.client()
    uris = {}
    for name, path in files.items():
        key = folder + path.name
        try:
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=path.read_bytes(),
                ContentType=CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
            )
        except ClientError as exc:
            raise storage_error(exc, connection, f"s3://{bucket}/{key}", bucket=bucket) from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot write s3://{bucket}/{key}: {first_line(exc)}") from exc
        uris[name] = f"s3://{bucket}/{key}"
    return uris
