"""What the notebooks load: model versions with provenance and scores, one evaluation's
per-case results, and comparisons between versions, as pandas DataFrames.

The functions take the clients a data scientist already has (the official Model Registry
client, a boto3 S3 client) and do no I/O of their own otherwise::

    registry = ModelRegistry(...)                  # or llama_rollout.registry.connect(...)
    table = versions(registry, "llama-3-2-3b-instruct")
    runs = {row.version: load_results(s3, row.results_uri) for row in table.itertuples()}
    per_tool(runs[table.version[0]])               # accuracy per tool of the newest version
    compare(runs)                                  # the cases that got better or worse

``results.jsonl`` is what the evaluate step writes beside the model: one line per case
trial, with the trajectory (``turns``) and its ``score``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llama_rollout.errors import StorageError
from llama_rollout.registry.scores import PREFIX
from llama_rollout.weights.manifest import split_s3_uri

if TYPE_CHECKING:
    import pandas as pd
    from model_registry import ModelRegistry

NO_TOOL = "(no tool)"  # irrelevance cases, which expect none
PROVENANCE = {
    "source_uri": "source_uri",
    "source_revision": "revision",
    "model_size_bytes": "size_bytes",
    "file_count": "files",
    "pipeline_run_id": "pipeline_run_id",
}
OUTPUT_CHARACTERS = 600  # of a tool's output, in a trajectory


def versions(registry: ModelRegistry, model_name: str) -> pd.DataFrame:
    """Every version of ``model_name``, newest first: provenance, where the weights are, the
    evaluation's verdict and every score, and ``results_uri`` of its per-case results."""
    import pandas as pd

    rows = []
    for version in registry.get_model_versions(model_name).order_by_creation_time().descending():
        props = version.custom_properties or {}
        artifact = registry.get_model_artifact(model_name, version.name)
        report = str(props.get(f"{PREFIX}report_uri", ""))
        row: dict[str, Any] = {
            "version": version.name,
            "id": version.id,
            "state": getattr(version.state, "value", version.state),
            "created": pd.to_datetime(int(version.create_time_since_epoch or 0), unit="ms"),
            **{column: props.get(key) for key, column in PROVENANCE.items()},
            "model_uri": artifact.uri if artifact else None,
            "results_uri": report.replace("report.html", "results.jsonl") if report else None,
        }
        row |= {k.removeprefix(PREFIX): v for k, v in props.items() if k.startswith(PREFIX)}
        rows.append(row)
    return pd.DataFrame(rows)


def load_results(s3: Any, uri: str) -> pd.DataFrame:
    """One evaluation's ``results.jsonl`` (``s3://BUCKET/KEY``): a row per case trial, with the
    score's fields as columns, ``called`` (the tools called, in order) and ``turns`` (the
    whole trajectory)."""
    import pandas as pd
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = split_s3_uri(uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    except (BotoCoreError, ClientError) as exc:
        raise StorageError(
            f"cannot read {uri}: {exc}",
            hint="check the data connection's AWS_* variables, and that the version was evaluated",
        ) from exc
    rows = []
    for line in body.splitlines():
        record = json.loads(line)
        score = record["score"]
        rows.append(
            {
                **{k: v for k, v in score.items() if k != "tools"},
                "tools": tuple(score["tools"]) or (NO_TOOL,),
                "called": [c["name"] for t in record["turns"] for c in t["calls"]],
                "turns": record["turns"],
            }
        )
    return pd.DataFrame(rows)


def per_tool(results: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per expected tool: a case counts once for each tool it expects."""
    exploded = results.explode("tools")
    grouped = exploded.groupby("tools")
    table = grouped.agg(
        cases=("case_id", "nunique"),
        selection_accuracy=("selection_ok", "mean"),
        argument_accuracy=("arguments_ok", "mean"),
        task_success=("success", "mean"),
        latency_p50_s=("latency_s", "median"),
    )
    table.index.name = "tool"
    return table.sort_values("task_success")


def failed(results: pd.DataFrame) -> pd.DataFrame:
    """The trials that did not succeed, with why."""
    return results.loc[~results["success"], ["case_id", "trial", "tools", "called", "reasons"]]


def trajectory(row: Mapping[str, Any]) -> str:
    """One trial's trajectory as Markdown: each turn's question, calls with their arguments,
    outputs and errors, and the answer; then why it failed, if it did."""
    lines = [f"### {row['case_id']} (trial {row['trial'] + 1})", ""]
    for number, turn in enumerate(row["turns"], 1):
        lines += [f"**turn {number}**: {turn['input']}", ""]
        for call in turn["calls"]:
            output = call["error"] or call["output"]
            if len(output) > OUTPUT_CHARACTERS:
                output = output[:OUTPUT_CHARACTERS] + " ..."
            lines += [f"- `{call['name']}({call['arguments']})`", f"  - {output!r}"]
        lines += ["", f"> {turn['text'] or '(no text)'}", ""]
    if row.get("error"):
        lines.append(f"error: {row['error']}")
    if reasons := row.get("reasons"):
        lines += ["why it failed:", *[f"- {r}" for r in reasons]]
    return "\n".join(lines)


def compare(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Each case's success rate (over trials) per version, in the mapping's order, and how it
    changed from the first version to the last: ``better``, ``worse`` or ``same``."""
    import pandas as pd

    table = pd.DataFrame(
        {name: frame.groupby("case_id")["success"].mean() for name, frame in results.items()}
    )
    first, last = table.columns[0], table.columns[-1]
    delta = table[last] - table[first]
    table["change"] = delta.map(lambda d: "better" if d > 0 else "worse" if d < 0 else "same")
    return table


def tool_deltas(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Task success per tool per version, and the change from the first version to the last."""
    import pandas as pd

    table = pd.DataFrame(
        {name: per_tool(frame)["task_success"] for name, frame in results.items()}
    ).sort_index()
    table["delta"] = table[table.columns[-1]] - table[table.columns[0]]
    return table


def score_deltas(table: pd.DataFrame, scores: list[str]) -> pd.DataFrame:
    """The named scores of the versions in ``table`` (rows of :func:`versions`) side by side,
    oldest first, with the change from the oldest to the newest."""
    ordered = table.sort_values("created").set_index("version")[scores].T.astype(float)
    ordered["delta"] = ordered[ordered.columns[-1]] - ordered[ordered.columns[0]]
    return ordered


def evaluations(s3: Any, model_uri: str) -> pd.DataFrame:
    """Every evaluation kept beside one version's weights (``<model_uri>evals/<run>/``),
    newest first: the run id, when it was written and its ``results_uri``."""
    import pandas as pd

    bucket, prefix = split_s3_uri(model_uri)
    folder = f"{prefix.rstrip('/')}/evals/"
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/results.jsonl"):
                run = item["Key"].removeprefix(folder).split("/", 1)[0]
                uri = f"s3://{bucket}/{item['Key']}"
                rows.append({"run": run, "written": item["LastModified"], "results_uri": uri})
    table = pd.DataFrame(rows, columns=["run", "written", "results_uri"])
    return table.sort_values("written", ascending=False, ignore_index=True)
