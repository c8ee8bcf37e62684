"""Scores from trajectories: a case scored a correct call has that call in its trajectory, and
the figures follow from the per-case judgements."""

from __future__ import annotations

import json
import math

import pytest

from llama_rollout.evals.dataset import parse_dataset
from llama_rollout.evals.harness import CaseResult, ToolCall, TurnResult, read_response
from llama_rollout.evals.metrics import grounded, score_case, summarise

TOOLS = [
    {"name": "unhealthy_pods", "input_schema": {"type": "object", "properties": {
        "namespace": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "limit": {"type": "integer"}}}},
    {"name": "cluster_health_summary", "input_schema": {"type": "object", "properties": {}}},
]  # fmt: skip
DATASET = parse_dataset(
    """
name: t
cases:
  - id: pods
    tags: [unhealthy_pods]
    turns:
      - input: Which pods fail in payments?
        expected_calls: [{unhealthy_pods: {namespace: [payments], limit: [""]}}]
        facts: [payments-api]
  - id: live
    tags: [cluster_health_summary]
    turns:
      - input: How is the cluster?
        expected_calls: [{cluster_health_summary: {}}]
        grounded: true
  - id: hello
    tags: [irrelevance, greeting]
    turns: [{input: Hello!, expected_calls: []}]
  - id: joke
    tags: [irrelevance]
    turns: [{input: Tell me a joke., expected_calls: []}]
"""
)
PODS_OUTPUT = json.dumps(
    {"pods": [{"name": "payments-api-5b8c9d7f6-qt4zl", "reason": "CrashLoopBackOff"}]}
)


def trial(case_id, *turns, number=0, error=None):
    return CaseResult(case_id, number, list(turns), error)


def turn(text="", *calls, latency=1.0):
    return TurnResult(input="", calls=list(calls), text=text, latency_s=latency,
                      input_tokens=100, output_tokens=20)  # fmt: skip


def pods_call(namespace="payments"):
    return ToolCall("unhealthy_pods", json.dumps({"namespace": namespace}), PODS_OUTPUT)


def test_a_correct_trial_succeeds_and_its_call_is_in_the_trajectory():
    result = trial("pods", turn("payments-api is crash-looping.", pods_call()))
    score = score_case(DATASET, result, TOOLS)
    assert score.success and score.selection_ok and score.arguments_ok and score.answer_ok
    assert [c.name for c in result.turns[0].calls] == ["unhealthy_pods"]


@pytest.mark.parametrize(
    ("result", "selection", "arguments", "answer", "reason"),
    [
        (trial("pods", turn("payments-api fails", pods_call("storefront"))), True, False, True,
         "namespace='storefront' is not one of"),
        (trial("pods", turn("payments-api fails",
                            ToolCall("cluster_health_summary", "{}", "{}"))), False, False, True,
         "called cluster_health_summary"),
        (trial("pods", turn("all good", pods_call())), True, True, False,
         "the answer does not say ['payments-api']"),
        (trial("live", turn("The cluster is fine.", ToolCall("cluster_health_summary", "{}", PODS_OUTPUT))),
         True, True, False, "mentions nothing the tools returned"),
        (trial("pods", error="Llama Stack failed 3 attempts"), False, False, None,
         "Llama Stack failed"),
    ],
)  # fmt: skip
def test_each_way_to_fail_is_counted_where_it_belongs(result, selection, arguments, answer, reason):
    score = score_case(DATASET, result, TOOLS)
    assert (score.selection_ok, score.arguments_ok, score.answer_ok) == (
        selection,
        arguments,
        answer,
    )
    assert not score.success
    assert any(reason in r for r in score.reasons), score.reasons


def test_calls_left_in_the_text_and_loops_are_counted():
    text = '{"name": "unhealthy_pods", "parameters": {"namespace": "payments"}}'
    looped = trial("pods", turn("payments-api", pods_call(), pods_call(), pods_call()))
    assert score_case(DATASET, looped, TOOLS).repeated_calls == 2
    in_text = score_case(DATASET, trial("pods", turn(text)), TOOLS)
    assert in_text.calls_in_text == 1 and not in_text.selection_ok


def test_the_figures_follow_from_the_cases():
    results = [
        trial("pods", turn("payments-api fails", pods_call(), latency=2.0), number=0),
        trial("pods", turn("payments-api fails", pods_call("x"), latency=4.0), number=1),
        trial("live", turn("payments-api-5b8c9d7f6-qt4zl is crash-looping",
                           ToolCall("cluster_health_summary", "{}", PODS_OUTPUT)), number=0),
        trial("live", turn("fine", ToolCall("cluster_health_summary", "{}", PODS_OUTPUT)), number=1),
        trial("hello", turn("Hi! How can I help?"), number=0),
        trial("hello", turn("", ToolCall("cluster_health_summary", "{}", "{}")), number=1),
        trial("joke", turn("A joke."), number=0),
        trial("joke", turn("Another."), number=1),
    ]  # fmt: skip
    scores = [score_case(DATASET, r, TOOLS) for r in results]
    metrics = summarise(scores, trials=2)
    assert metrics["cases"] == 4 and metrics["trials"] == 2
    assert metrics["tool_selection_accuracy"] == 1.0
    assert metrics["argument_accuracy"] == 3 / 4
    assert metrics["answer_correctness"] == 3 / 4
    assert metrics["greeting_accuracy"] == 1 / 2
    assert metrics["irrelevance_accuracy"] == 1.0
    assert metrics["task_success"] == 5 / 8
    # pass^2 per case: pods 0, live 0, hello 0, joke 1.
    assert metrics["pass_hat_2"] == 1 / 4
    assert metrics["tool.unhealthy_pods.arguments"] == 1 / 2
    assert metrics["tool.cluster_health_summary.selection"] == 1.0
    assert metrics["latency_p50_s"] == 1.0 and metrics["latency_p95_s"] == 4.0
    assert metrics["tokens_per_case"] == 120.0
    assert metrics["error_rate"] == 0.0


def test_a_figure_with_no_case_is_not_a_zero():
    metrics = summarise([score_case(DATASET, trial("hello", turn("Hi")), TOOLS)], trials=1)
    assert math.isnan(metrics["argument_accuracy"]) and metrics["greeting_accuracy"] == 1.0


def test_grounding_looks_for_the_names_the_tools_returned():
    assert grounded("The pod payments-api-5b8c9d7f6-qt4zl is in CrashLoopBackOff.", [PODS_OUTPUT])
    assert not grounded("Everything looks fine.", [PODS_OUTPUT])
    assert not grounded("payments-api", [])


def test_a_responses_api_answer_becomes_a_trajectory():
    response = {
        "id": "resp_1",
        "output": [
            {"type": "mcp_list_tools", "server_label": "cluster-health",
             "tools": [{"name": "unhealthy_pods"}, {"name": "node_status"}]},
            {"type": "mcp_call", "name": "unhealthy_pods", "arguments": '{"namespace": "payments"}',
             "output": PODS_OUTPUT, "error": None},
            {"type": "mcp_call", "name": "node_status", "arguments": "{}", "output": "",
             "error": "Error (code 1): None"},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "payments-api is failing."}]},
        ],
        "usage": {"input_tokens": 1260, "output_tokens": 40},
    }  # fmt: skip
    record = read_response("Which pods fail?", response)
    assert record.response_id == "resp_1"
    assert record.tools_offered == ["node_status", "unhealthy_pods"]
    assert [(c.name, c.error) for c in record.calls] == [
        ("unhealthy_pods", None),
        ("node_status", "Error (code 1): None"),
    ]
    assert record.text == "payments-api is failing."
    assert (record.input_tokens, record.output_tokens) == (1260, 40)
