"""The demo's own gate and tool choice for the bundled model: the gate only when no threshold
is set, and never on a part of the dataset; the tool choice unless one is set."""

from __future__ import annotations

from llama_rollout import pipeline_run
from llama_rollout.evals.gate import Thresholds, apply_gate
from llama_rollout.pipeline_run import (
    BUNDLED_MODEL_GATE,
    DEFAULT_SOURCE,
    bundled_model_gate,
    bundled_model_tool_choice,
)

# What the bundled 135M model scored on the built-in dataset under tool_choice "required"
# (make demo, 2026-12-05): a call on every case, the greetings and irrelevant ones included.
BUNDLED_SCORES = {
    "tool_selection_accuracy": 0.42, "argument_accuracy": 0.19, "irrelevance_accuracy": 0.0,
    "greeting_accuracy": 0.0, "answer_correctness": 0.14, "task_success": 0.08,
    "error_rate": 0.017, "calls_in_text_rate": 0.28, "case_coverage": 1.0,
}  # fmt: skip


def thresholds(parameters: dict) -> Thresholds:
    return Thresholds(**{k: v for k, v in parameters.items() if k in Thresholds.model_fields})


def test_the_bundled_model_without_thresholds_gets_the_demo_s_gate_and_passes_it():
    parameters = bundled_model_gate(DEFAULT_SOURCE, {"eval_trials": 1})
    assert parameters == {"eval_trials": 1, **BUNDLED_MODEL_GATE}
    assert apply_gate(BUNDLED_SCORES, thresholds(parameters)).passed
    assert not apply_gate(BUNDLED_SCORES, Thresholds()).passed, "the pipeline's gate says no"


def test_any_threshold_set_or_another_model_keeps_the_pipeline_s_gate():
    assert bundled_model_gate(DEFAULT_SOURCE, {"min_task_success": 0.45}) == {
        "min_task_success": 0.45
    }
    assert bundled_model_gate("hf://meta-llama/Llama-3.2-3B-Instruct", {}) == {}


def test_the_demo_s_gate_still_refuses_a_part_of_the_dataset_and_a_broken_stack():
    gate = thresholds(bundled_model_gate(DEFAULT_SOURCE, {}))
    assert gate.min_case_coverage == 1.0
    partial = apply_gate({**BUNDLED_SCORES, "case_coverage": 4 / 60}, gate)
    assert partial.missed == ("case_coverage 0.07 < 1.00",)
    assert not apply_gate({**BUNDLED_SCORES, "error_rate": 0.5}, gate).passed


def test_the_bundled_model_is_evaluated_under_required_unless_a_tool_choice_is_set(monkeypatch):
    monkeypatch.setattr(pipeline_run, "pins_tool_arguments", lambda: True)
    assert bundled_model_tool_choice(DEFAULT_SOURCE, {}) == {
        "eval_tool_choice": "required",
        "extra_vllm_args": ["--tool-strict-level=parameter"],
    }
    assert bundled_model_tool_choice(DEFAULT_SOURCE, {"eval_tool_choice": "auto"}) == {
        "eval_tool_choice": "auto"
    }
    assert bundled_model_tool_choice(DEFAULT_SOURCE, {"extra_vllm_args": []}) == {
        "eval_tool_choice": "required",
        "extra_vllm_args": [],
    }, "the user's own vLLM arguments win"
    assert bundled_model_tool_choice("hf://meta-llama/Llama-3.2-3B-Instruct", {}) == {}
    # Another vLLM (a GPU's on PATH) may not know the flag: it is not given.
    monkeypatch.setattr(pipeline_run, "pins_tool_arguments", lambda: False)
    assert bundled_model_tool_choice(DEFAULT_SOURCE, {}) == {"eval_tool_choice": "required"}
