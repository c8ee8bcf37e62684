"""Human-readable summaries of pipeline steps, as Markdown the dashboard renders."""

from __future__ import annotations

from llama_rollout.weights.plan import MirroredModel

MiB = 1024 * 1024


def mirror_markdown(mirrored: MirroredModel) -> str:
    """A Markdown summary of a mirrored model: where it is, what it holds, what moved."""
    manifest = mirrored.manifest
    lines = [
        f"# Mirrored `{manifest.model_name}`",
        "",
        f"- source: `{manifest.source}`",
        f"- location: `{mirrored.uri}`",
        f"- files: {len(manifest.files)}, {manifest.total_bytes / MiB:.1f} MiB",
        f"- sent this run: {mirrored.files_transferred} files, "
        f"{mirrored.bytes_transferred / MiB:.1f} MiB",
        f"- manifest sha256: `{mirrored.manifest_sha256}`",
        "",
        "| file | size (MiB) | sha256 |",
        "| --- | ---: | --- |",
    ]
    lines += [f"| `{f.path}` | {f.size / MiB:.2f} | `{f.sha256[:16]}...` |" for f in manifest.files]
    return "\n".join(lines) + "\n"
