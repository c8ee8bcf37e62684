"""Step 2: copy the pinned revision into S3, verified and resumable."""

from typing import NamedTuple

from kfp import dsl

from components import step_component


@step_component("llama_rollout.weights.request:MirrorRequest")
def mirror_weights(
    pinned_uri: str,
    model_name: str,
    run_id: str,
    mirror_summary: dsl.Output[dsl.Markdown],
    mirror_metrics: dsl.Output[dsl.Metrics],
    s3_prefix: str = "models",
) -> NamedTuple(
    "MirroredModel",
    model_uri=str,
    storage_path=str,
    manifest_sha256=str,
    bytes_transferred=int,
    files=int,
):
    """Stream every file of the pinned source into the data connection's bucket.

    Args:
        mirror_summary: a Markdown table of the mirrored files, for the dashboard.
        mirror_metrics: bytes moved, files, throughput.

    Returns:
        model_uri: ``s3://BUCKET/PREFIX/MODEL/REVISION/``.
        storage_path: the same path inside the bucket (KServe's ``storage.path``).
        manifest_sha256: digest of the manifest written last.
        bytes_transferred: bytes sent this run (0 when everything was already there).
        files: number of files in the model.
    """
    arguments = dict(locals())  # first: exactly the arguments
    import time
    from collections import namedtuple

    from llama_rollout import journal
    from llama_rollout.redaction import configure_step_logging
    from llama_rollout.step_parameters import request_from
    from llama_rollout.weights.report import mirror_markdown
    from llama_rollout.weights.request import MirrorRequest
    from llama_rollout.weights.step import mirror

    configure_step_logging()
    started = time.monotonic()
    request = request_from(MirrorRequest, arguments)
    mirrored = mirror(request.pinned_uri, request.model_name, s3_prefix)
    with open(mirror_summary.path, "w") as fh:
        fh.write(mirror_markdown(mirrored))
    mirror_metrics.log_metric("bytes_transferred", mirrored.bytes_transferred)
    mirror_metrics.log_metric("model_bytes", mirrored.manifest.total_bytes)
    mirror_metrics.log_metric("files", len(mirrored.manifest.files))
    mirror_metrics.log_metric("seconds", round(time.monotonic() - started, 2))
    journal.note(
        journal.MirrorWeightsNote(
            model_uri=mirrored.uri,
            files=len(mirrored.manifest.files),
            bytes_transferred=mirrored.bytes_transferred,
        ),
        s3_prefix=s3_prefix,
        run_id=run_id,
    )
    outputs = namedtuple(
        "MirroredModel",
        ["model_uri", "storage_path", "manifest_sha256", "bytes_transferred", "files"],
    )
    return outputs(
        mirrored.uri,
        mirrored.storage_path,
        mirrored.manifest_sha256,
        mirrored.bytes_transferred,
        len(mirrored.manifest.files),
    )
