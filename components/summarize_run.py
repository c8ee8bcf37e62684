"""The exit handler: the run summary, whatever happened."""

from typing import NamedTuple

from kfp.dsl import Markdown, Output, PipelineTaskFinalStatus

from components import runtime_component


@runtime_component
def summarize_run(
    status: PipelineTaskFinalStatus, s3_prefix: str, run_id: str, summary: Output[Markdown]
) -> NamedTuple("RunSummary", outcome=str, headline=str, record=dict):
    """Read the run's journal and write its summary (Markdown), for every outcome.

    Args:
        status: the pipeline's final status (KFP sets it; its state names differ between
            kfp.local and a pipelines server, and run_summary reads both).
        s3_prefix: the models' folder in the bucket (the run's journal is under it).
        run_id: the pipeline run.

    Returns:
        outcome: published, unchanged, gate-failed, failed or not-published.
        headline: the summary's first sentence.
        record: the final state, the journal's notes and the steps' table, as JSON.
    """
    import logging
    from collections import namedtuple
    from pathlib import Path

    from llama_rollout import journal
    from llama_rollout.errors import RolloutError
    from llama_rollout.redaction import configure_step_logging
    from llama_rollout.run_summary import summarize

    configure_step_logging()
    try:
        notes = journal.read(s3_prefix=s3_prefix, run_id=run_id)
    except RolloutError as exc:  # the summary still says what it can
        logging.getLogger(__name__).warning("cannot read the run's journal: %s", exc)
        notes = journal.Journal(run_id)
    result = summarize(notes, state=status.state or "", error=status.error_message or "")
    Path(summary.path).write_text(result.markdown)
    print(result.markdown)
    outputs = namedtuple("RunSummary", ["outcome", "headline", "record"])
    return outputs(result.outcome, result.headline, {**result.as_dict(), "notes": notes.as_dict()})
