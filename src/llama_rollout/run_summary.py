"""The run summary the exit handler writes, whatever happened: Markdown from the run's journal.

One headline (published, nothing changed, gate not passed, or failed at a step), a table of
the steps with what each did or why it did not run, and the evaluation's and the
publication's details.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llama_rollout.journal import STEPS, Journal


@dataclass(frozen=True)
class RunSummary:
    """What a run came to."""

    headline: str
    outcome: str  # published | unchanged | gate-failed | failed | not-published
    rows: list[tuple[str, str, str]]  # (step, status, what)
    markdown: str

    def as_dict(self) -> dict[str, Any]:
        return {"headline": self.headline, "outcome": self.outcome,
                "steps": [{"step": s, "status": st, "detail": d} for s, st, d in self.rows]}  # fmt: skip


def _step_detail(step: str, note: dict[str, Any]) -> str:
    if step == "resolve source":
        return f"{note.get('pinned_uri', '')}: {note.get('reason', '')}"
    if step == "mirror weights":
        return (f"{note.get('model_uri', '')} ({note.get('files', 0)} files, "
                f"{int(note.get('bytes_transferred', 0)):,} bytes transferred)")  # fmt: skip
    if step == "register model":
        return f"{note.get('model_name', '')} version {note.get('model_version_name', '')}"
    if step == "deploy model server":
        return f"{note.get('serving_model', '')} at {note.get('serving_url', '')}"
    if step == "deploy Llama Stack":
        return (f"Llama Stack {note.get('version', '')} at {note.get('url', '')}, MCP tools: "
                f"{', '.join(note.get('mcp_tools', [])) or 'none'}")  # fmt: skip
    if step == "evaluate":
        verdict = "gate passed" if note.get("passed") else "gate did not pass"
        return f"{verdict}; report {note.get('report_uri', '') or 'not uploaded'}"
    if step == "publish":
        retired = note.get("retired") or []
        return note.get("summary", "") + (
            f"; removed versions {', '.join(retired)}" if retired else ""
        )
    return ""


def summarize(journal: Journal, *, state: str, error: str = "") -> RunSummary:
    """The summary of a run from its journal and the pipeline's final ``state``."""
    resolved = journal.get("resolve source")
    evaluated = journal.get("evaluate")
    unchanged = bool(resolved) and resolved.get("changed") is False
    gate_failed = bool(evaluated) and not evaluated.get("passed")
    rows = []
    failed_at = ""
    for step in STEPS:
        note = journal.notes.get(step)
        if note is not None:
            rows.append((step, "done", _step_detail(step, note)))
        elif unchanged:
            rows.append((step, "skipped", "nothing changed"))
        elif step == "publish" and gate_failed:
            rows.append((step, "skipped", "the gate did not pass"))
        elif not failed_at and state != "SUCCEEDED":
            failed_at = step
            rows.append((step, "failed", error or "did not finish"))
        else:
            rows.append((step, "not run", ""))
    if failed_at:
        outcome, headline = "failed", f"the run failed at {failed_at}: nothing more was changed"
    elif unchanged:
        outcome, headline = "unchanged", resolved.get("reason", "nothing changed")
    elif gate_failed:
        missed = "; ".join(evaluated.get("missed") or []) or "a threshold was missed"
        outcome = "gate-failed"
        headline = (f"the gate did not pass ({missed}): OLSConfig was not changed, and the "
                    "live version, if any, keeps serving")  # fmt: skip
    elif published := journal.notes.get("publish"):
        outcome, headline = "published", f"published to Lightspeed: {published.get('summary', '')}"
    else:
        outcome, headline = "not-published", f"the run ended {state.lower()} without publishing"
    return RunSummary(headline, outcome, rows, _markdown(journal, headline, rows, evaluated))


def _markdown(
    journal: Journal, headline: str, rows: list[tuple[str, str, str]], evaluated: dict[str, Any]
) -> str:
    lines = [f"# llama-rollout run {journal.run_id}", "", f"**{headline}**", "",
             "| step | status | what |", "|---|---|---|"]  # fmt: skip
    lines += [
        f"| {step} | {status} | {detail.replace('|', '/')} |" for step, status, detail in rows
    ]
    metrics = evaluated.get("metrics") or {}
    if metrics:
        lines += ["", "## Evaluation", "", "| metric | value |", "|---|---|"]
        lines += [f"| {name} | {value:.3f} |" for name, value in sorted(metrics.items())]
        for reason in evaluated.get("missed") or []:
            lines.append(f"\n- missed: {reason}")
    return "\n".join(lines) + "\n"
