"""The gate: which thresholds a run missed, each named with its value."""

from __future__ import annotations

import math

import pytest

from llama_rollout.evals.gate import Thresholds, apply_gate

GOOD = {
    "tool_selection_accuracy": 0.9, "argument_accuracy": 0.7, "irrelevance_accuracy": 0.8,
    "greeting_accuracy": 1.0, "answer_correctness": 0.6, "task_success": 0.5,
    "error_rate": 0.0, "calls_in_text_rate": 0.0, "case_coverage": 1.0,
}  # fmt: skip


def test_scores_above_every_threshold_pass():
    assert apply_gate(GOOD, Thresholds()).passed


def test_each_missed_threshold_is_named_with_its_value():
    result = apply_gate(
        {**GOOD, "argument_accuracy": 0.42, "error_rate": 0.2, "calls_in_text_rate": 0.25},
        Thresholds(),
    )
    assert not result.passed
    assert result.missed == (
        "argument_accuracy 0.42 < 0.60",
        "error_rate 0.20 > 0.05",
        "calls_in_text_rate 0.25 > 0.00",
    )


def test_other_thresholds_let_a_small_model_through():
    small = {**GOOD, "argument_accuracy": 0.1, "task_success": 0.05}
    assert not apply_gate(small, Thresholds()).passed
    lenient = Thresholds(min_argument_accuracy=0, min_task_success=0)
    assert apply_gate(small, lenient).passed


def test_a_score_with_no_case_misses_nothing_and_a_missing_one_is_a_bug():
    assert apply_gate({**GOOD, "greeting_accuracy": math.nan}, Thresholds()).passed
    with pytest.raises(KeyError):
        apply_gate({k: v for k, v in GOOD.items() if k != "task_success"}, Thresholds())


@pytest.mark.parametrize("name", list(Thresholds.model_fields))
def test_every_threshold_is_a_rate_and_one_outside_zero_to_one_is_refused(name):
    # A count among the rates (calls in text once was one) would read 12 trials as 12.00 > 1.00.
    with pytest.raises(ValueError, match="less than or equal to 1"):
        Thresholds(**{name: 1.5})
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        Thresholds(**{name: -0.1})
