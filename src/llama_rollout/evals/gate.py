"""The quality gate: thresholds on the scores, and which of them a run missed.

A failed gate is a normal outcome of an evaluation, not a failed run: the step reports
``passed`` and the thresholds missed, and publishing happens only when it passed.

How the defaults were chosen, for Llama 3.2 3B Instruct on the reference MCP server:

* Meta reports 67.0 on BFCL v2 for Llama-3.2-3B-Instruct (and 25.7 for 1B). BFCL's overall
  score is mostly AST accuracy over simple, multiple and parallel calls, the same rules as
  ``argument_accuracy`` here. The cluster-health tools are fewer and simpler than BFCL's
  (seven tools, at most three optional arguments each), so a 3B model should do at least as
  well. ``argument_accuracy`` >= 0.60 sits a margin below 67 for run-to-run noise (tau-bench
  sees 43-64% of tasks flip between trials); ``tool_selection_accuracy``, which ignores the
  arguments, is set higher, at 0.75.
* BFCL's irrelevance category is where small Llama models are weakest (they call a tool on a
  greeting). Lightspeed users greet and thank, so ``greeting_accuracy`` >= 0.75 and
  ``irrelevance_accuracy`` >= 0.60.
* ``answer_correctness`` >= 0.50 and ``task_success`` >= 0.45: a correct call is needed for
  most answers, so these sit below the call accuracies.
* ``error_rate`` <= 0.05: transport errors and timeouts are not the model's fault, but more
  than one case in twenty means the figures describe the stack, not the model.
* ``calls_in_text_rate`` <= 0: the share of trials whose answer holds a call written out as
  text. Such a call is never made for Lightspeed's user; one is a parser or template mismatch
  to fix before publishing.

* ``case_coverage`` >= 1: the share of the dataset's cases that ran. A subset (``eval_cases``)
  of easy cases could pass where the whole dataset fails, so only a whole evaluation can
  publish, unless ``min_case_coverage`` is set below 1 to allow a part on purpose.

Every gated score is a rate in [0, 1], and so is every threshold.

A 135M model (the embedded demo) fails these, as it should: ``run --local`` can take other
thresholds to walk the rest of the path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from llama_rollout.step_parameters import parameter


class Thresholds(BaseModel):
    """The least (``min_*``) or most (``max_*``) each score may be for the gate to pass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_tool_selection_accuracy: float = parameter(
        0.75, ge=0, le=1, description="the gate: the right tools called."
    )
    min_argument_accuracy: float = parameter(
        0.60, ge=0, le=1, description="the gate: the right calls by BFCL's rules."
    )
    min_irrelevance_accuracy: float = parameter(
        0.60,
        ge=0,
        le=1,
        description="the gate: no call where none belongs (greetings apart).",
    )
    min_greeting_accuracy: float = parameter(
        0.75, ge=0, le=1, description="the gate: no call on a greeting."
    )
    min_answer_correctness: float = parameter(
        0.50, ge=0, le=1, description="the gate: answers that say what they must."
    )
    min_task_success: float = parameter(
        0.45, ge=0, le=1, description="the gate: the right calls and a correct answer."
    )
    max_error_rate: float = parameter(
        0.05, ge=0, le=1, description="the gate: cases that did not run (transport, timeout)."
    )
    max_calls_in_text_rate: float = parameter(
        0.0,
        ge=0,
        le=1,
        description="the gate: the share of trials with a call written in the text instead of "
        "made.",
    )
    min_case_coverage: float = parameter(
        1.0,
        ge=0,
        le=1,
        description="the gate: the share of the dataset's cases evaluated; below 1 allows a run "
        "with ``eval_cases`` to publish.",
    )


# What a missed threshold says about the model, for the person reading the summary.
MEANINGS = {
    "tool_selection_accuracy": "it often calls the wrong tool, or none where one is needed",
    "argument_accuracy": "its calls have wrong, missing or malformed arguments",
    "irrelevance_accuracy": "it calls tools on questions that need none",
    "greeting_accuracy": "it calls tools on greetings and small talk",
    "answer_correctness": "its answers miss the facts that the tools returned",
    "task_success": "too few cases end with the right calls and a correct answer",
    "error_rate": "too many cases did not run (errors, timeouts): the figures describe the "
    "stack more than the model",
    "calls_in_text_rate": "it writes calls into its text instead of making them: check the tool-call "
    "parser and the chat template",
    "case_coverage": "only part of the dataset was evaluated (eval_cases): set min_case_coverage "
    "below 1 to publish on a part",
}


@dataclass(frozen=True)
class GateResult:
    passed: bool
    missed: tuple[str, ...]  # "argument_accuracy 0.42 < 0.60", one per threshold missed

    def explained(self) -> list[str]:
        """Each missed threshold with what it says about the model."""
        return [f"{m}: {MEANINGS[m.split(' ', 1)[0]]}" for m in self.missed]


def apply_gate(metrics: Mapping[str, float], thresholds: Thresholds) -> GateResult:
    """Which thresholds the scores miss. A score that could not be measured (no case of its
    kind) misses nothing; one that is missing from ``metrics`` is a bug and raises."""
    missed = []
    for setting, limit in thresholds.model_dump().items():
        bound, _, name = setting.partition("_")
        value = metrics[name]
        if math.isnan(value):
            continue
        if bound == "min" and value < limit:
            missed.append(f"{name} {value:.2f} < {limit:.2f}")
        elif bound == "max" and value > limit:
            missed.append(f"{name} {value:.2f} > {limit:.2f}")
    return GateResult(not missed, tuple(missed))
