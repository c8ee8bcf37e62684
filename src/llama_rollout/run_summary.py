"""The run summary the exit handler writes, whatever happened: Markdown from the run's journal.

One headline (published, nothing changed, gate not passed, or stopped at a step), a table of
the steps with what each did or why it did not run, and the evaluation's and the
publication's details.

The journal says what each step did; the pipeline's final state only says why a step that
left no note has none. The state's names differ by where the run ran:

- kfp.local names the exit handler's task ``SUCCEEDED`` or ``FAILED``
  (kfp/local/orchestrator/orchestrator_utils.py, with the message "Task <name> failed.").
- A pipelines server passes the ML Metadata execution state of the guarded DAG
  (kubeflow/pipelines backend/src/v2/driver/resolve.go: ``GetLastKnownState().String()``, the
  ``Execution.State`` enum of ml_metadata/proto/metadata_store.proto): ``UNKNOWN``, ``NEW``,
  ``RUNNING``, ``COMPLETE``, ``FAILED``, ``CACHED``, ``CANCELED``, never ``SUCCEEDED``; the
  error message and code are left empty (a TODO there). ``CANCELED`` is how KFP records a
  branch that was not triggered, and it counts as done (backend/src/v2/metadata/client.go);
  a user's cancellation writes no state. Backends older than KFP 2.14.0 do not run a
  ``PipelineTaskFinalStatus`` at all; 2.17.0 propagates the state of a ``dsl.If`` branch that
  ran (#13322), but only a launcher updates its parents, so a run whose branch was not taken
  (nothing changed, the gate failed) still arrives as ``RUNNING``, and a step that failed once
  and then passed on its retry leaves ``FAILED``. So no state name is trusted beyond this:
  an unknown one is reported as given, and the journal decides.
- The SDK's docstring of ``PipelineTaskFinalStatus`` names Vertex AI's ``SUCCEEDED``,
  ``FAILED`` and ``CANCELLED``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llama_rollout.journal import (
    STEPS,
    DeployLlamaStackNote,
    DeployModelServerNote,
    EvaluateNote,
    Journal,
    MirrorWeightsNote,
    Note,
    PublishNote,
    RegisterModelNote,
    ResolveSourceNote,
    Step,
)

# The states in which the guarded steps all ended: kfp.local's, then ML Metadata's. CACHED is a
# step whose result was reused, CANCELED a branch not triggered; the backend counts both as
# finished, as it counts COMPLETE (UpdateDAGExecutionsState in backend/src/v2/metadata/client.go).
FINISHED = frozenset({"SUCCEEDED", "COMPLETE", "CACHED", "CANCELED"})


@dataclass(frozen=True)
class RunSummary:
    """What a run came to."""

    headline: str
    outcome: str  # published | unchanged | gate-failed | failed (stopped early) | not-published
    rows: list[tuple[str, str, str]]  # (step, status, what)
    markdown: str
    state: str  # the pipeline's final state, as it was given

    def as_dict(self) -> dict[str, Any]:
        return {
            "headline": self.headline,
            "outcome": self.outcome,
            "state": self.state,
            "steps": [{"step": s, "status": st, "detail": d} for s, st, d in self.rows],
        }


def _step_detail(note: Note) -> str:
    match note:
        case ResolveSourceNote():
            return f"{note.pinned_uri}: {note.reason}"
        case MirrorWeightsNote():
            return (
                f"{note.model_uri} ({note.files} files, "
                f"{note.bytes_transferred:,} bytes transferred)"
            )
        case RegisterModelNote():
            return f"{note.model_name} version {note.model_version_name}"
        case DeployModelServerNote():
            return f"{note.serving_model} at {note.serving_url}"
        case DeployLlamaStackNote():
            return (
                f"Llama Stack {note.version} at {note.url}, MCP tools: "
                f"{', '.join(note.mcp_tools) or 'none'}"
            )
        case EvaluateNote():
            verdict = "gate passed" if note.passed else "gate did not pass"
            called = f"; called Llama Stack as {note.caller}" if note.caller else ""
            return f"{verdict}; report {note.report_uri or 'not uploaded'}{called}"
        case PublishNote():
            retired = f"; removed versions {', '.join(note.retired)}" if note.retired else ""
            return note.summary + retired
    return ""


def _stopped(state: str, step: str) -> tuple[str, str]:
    """The status of the first step without a note, and the headline, when the run stopped."""
    if state == "FAILED":
        return "failed", f"the run failed at {step}"
    if state == "CANCELLED":  # Vertex AI's name for a cancelled run
        return "canceled", f"the run was canceled at {step}"
    # RUNNING, NEW, UNKNOWN or a name this code has never seen: say it as it came.
    given = f"state {state!r}" if state else "no state"
    return "did not finish", f"the run stopped at {step} (the pipeline reported {given})"


def summarize(journal: Journal, *, state: str, error: str = "") -> RunSummary:
    """The summary of a run from its journal and the pipeline's final status.

    Args:
        journal: what each step noted.
        state: ``PipelineTaskFinalStatus.state`` as given, in kfp.local's or the backend's
            names, or one neither uses.
        error: its error message, when there is one (the backend leaves it empty).

    Returns:
        The headline, the outcome, a row per step and the Markdown page.
    """
    resolved = journal.get(ResolveSourceNote)
    evaluated = journal.get(EvaluateNote)
    published = journal.get(PublishNote)
    unchanged = resolved is not None and resolved.changed is False
    gate_failed = evaluated is not None and not evaluated.passed
    rows = []
    stopped = ""
    for step in STEPS:
        note = journal.notes.get(step)
        if note is not None:
            rows.append((step.value, "done", _step_detail(note)))
        elif unchanged:
            rows.append((step.value, "skipped", "nothing changed"))
        elif step is Step.PUBLISH and gate_failed:
            rows.append((step.value, "skipped", "the gate did not pass"))
        elif not stopped and state not in FINISHED:
            status, stopped = _stopped(state, step)
            why = "no result: the step's log says why" + (f" ({error})" if error else "")
            rows.append((step.value, status, why))
        else:
            rows.append((step.value, "not run", ""))
    if stopped:
        outcome, headline = "failed", f"{stopped}: nothing more was changed"
    elif resolved is not None and unchanged:
        outcome, headline = "unchanged", resolved.reason or "nothing changed"
    elif evaluated is not None and gate_failed:
        missed = "; ".join(evaluated.missed) or "a threshold was missed"
        outcome = "gate-failed"
        headline = (
            f"the gate did not pass ({missed}): OLSConfig was not changed, and the "
            "live version, if any, keeps serving"
        )
    elif published is not None:
        outcome, headline = "published", f"published to Lightspeed: {published.summary}"
    else:
        outcome, headline = "not-published", f"the run finished without publishing ({state})"
    markdown = _markdown(journal, headline, state, rows, evaluated)
    return RunSummary(headline, outcome, rows, markdown, state)


def _markdown(
    journal: Journal,
    headline: str,
    state: str,
    rows: list[tuple[str, str, str]],
    evaluated: EvaluateNote | None,
) -> str:
    lines = [
        f"# llama-rollout run {journal.run_id}",
        "",
        f"**{headline}**",
        "",
        f"The pipeline's final state: `{state or 'none'}`.",
        "",
        "| step | status | what |",
        "|---|---|---|",
    ]
    lines += [
        f"| {step} | {status} | {detail.replace('|', '/')} |" for step, status, detail in rows
    ]
    if evaluated is not None and evaluated.metrics:
        lines += ["", "## Evaluation", "", "| metric | value |", "|---|---|"]
        lines += [f"| {name} | {value:.3f} |" for name, value in sorted(evaluated.metrics.items())]
        for reason in evaluated.missed:
            lines.append(f"\n- missed: {reason}")
    return "\n".join(lines) + "\n"
