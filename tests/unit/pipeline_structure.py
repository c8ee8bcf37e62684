"""What of the compiled pipeline is its structure, not its code.

The compiled file embeds each component's source, which changes with every refactoring. What a
run does is decided by the rest: the pipeline's inputs and defaults, the DAG's tasks and edges,
the branches' conditions, the Secrets and labels each step's pod gets, caching and retries,
each step's interface and image. :func:`structure` keeps exactly those.
"""

from __future__ import annotations

from typing import Any


def structure(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """The structure of a compiled pipeline (its YAML documents, as loaded)."""
    spec, platform = documents[0], (documents[1] if len(documents) > 1 else {})
    components = {}
    for name, component in spec["components"].items():
        entry: dict[str, Any] = {
            "inputs": _interface(component.get("inputDefinitions", {})),
            "outputs": _interface(component.get("outputDefinitions", {})),
        }
        if "dag" in component:
            entry["tasks"] = component["dag"]["tasks"]
            entry["dag_outputs"] = component["dag"].get("outputs", {})
        else:
            entry["executor"] = component["executorLabel"]
        components[name] = entry
    executors = {
        name: {"image": executor["container"]["image"]}
        for name, executor in spec["deploymentSpec"]["executors"].items()
    }
    return {
        "pipeline": spec["pipelineInfo"],
        # Types and defaults; descriptions are documentation (checked against the requests').
        "inputs": {
            name: {key: value for key, value in entry.items() if key != "description"}
            for name, entry in spec["root"]["inputDefinitions"]["parameters"].items()
        },
        "outputs": spec["root"].get("outputDefinitions", {}),
        "tasks": spec["root"]["dag"]["tasks"],
        "components": components,
        "executors": executors,
        "platform": platform,
    }


def _interface(definitions: dict[str, Any]) -> dict[str, str]:
    """A step's inputs or outputs by name and type: a step's own defaults are not structure
    (the pipeline passes every input)."""
    found = {}
    for kind, entries in definitions.items():
        for name, entry in entries.items():
            kind_of = entry.get("parameterType") or entry["artifactType"]["schemaTitle"]
            found[f"{kind}.{name}"] = kind_of
    return found


if __name__ == "__main__":
    import json
    from pathlib import Path

    import yaml

    here = Path(__file__).parent
    compiled = here.parents[1] / "pipelines" / "llama-rollout.yaml"
    record = structure(list(yaml.safe_load_all(compiled.read_text())))
    (here / "pipeline_structure.json").write_text(
        json.dumps(record, indent=1, sort_keys=True) + "\n"
    )
