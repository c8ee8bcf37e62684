"""Compile the pipeline to one YAML file, for the runtime image the cluster will pull.

The components name the image built by ``manifests/runtime-image``; ``image`` points every
step at another reference (a registry the cluster can pull from, a digest) without touching the
source. The file is written exactly as the KFP compiler writes it: its header comments, then
the documents with sorted keys.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from kfp import compiler

from components import RUNTIME_IMAGE


def compile_pipeline(output: Path, *, image: str = RUNTIME_IMAGE) -> None:
    """Write the compiled pipeline to ``output``, every step running in ``image``.

    Args:
        output: the YAML file to write.
        image: the runtime image reference, pinned to a tag or digest.
    """
    from pipelines.rollout import rollout_pipeline

    compiler.Compiler().compile(rollout_pipeline, str(output))
    if image == RUNTIME_IMAGE:
        return
    text = output.read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    documents = list(yaml.safe_load_all(text))
    for executor in documents[0]["deploymentSpec"]["executors"].values():
        executor["container"]["image"] = image
    with output.open("w") as fh:
        fh.write(header)
        yaml.dump_all(documents, fh, sort_keys=True)
