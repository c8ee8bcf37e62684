"""The BFCL rules, one row each (as BFCL's AST checker applies them), and the case-level counts."""

from __future__ import annotations

import pytest

from llama_rollout.evals.scoring import (
    answer_has_facts,
    call_in_text,
    match_calls,
    normalise,
    pass_hat_k,
    repeated_calls,
)

NULLABLE_STRING = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
TOOLS = [
    {  # as Llama Stack lists an MCP tool (pydantic's schema for `str | None = None`)
        "name": "unhealthy_pods",
        "input_schema": {
            "type": "object",
            "properties": {
                "namespace": NULLABLE_STRING,
                "limit": {"type": "integer", "default": 50},
            },
        },
    },
    {
        "name": "scale",
        "inputSchema": {  # as MCP lists it
            "type": "object",
            "properties": {
                "deployment": {"type": "string"},
                "replicas": {"type": "integer"},
                "ratio": {"type": "number"},
                "zones": {"type": "array", "items": {"type": "string"}},
                "force": {"type": "boolean"},
            },
            "required": ["deployment", "replicas"],
        },
    },
    {"name": "cluster_health_summary", "parameters": {"type": "object", "properties": {}}},
    {  # the shapes BFCL's data has and the cluster tools do not
        "name": "rebalance",
        "parameters": {
            "type": "object",
            "properties": {
                "weights": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                "ratios": {"type": "array", "items": {"type": "number"}},
                "mode": {"type": "string"},
                "dry_run": {"type": "boolean"},
                "labels": {"type": "object", "properties": {"team": {"type": "string"}, "tier": {"type": "string"}}},
                "limits": {"type": "array", "items": {"type": "object"}},
            },
        },
    },
]  # fmt: skip


def call(name, **arguments):
    return {"name": name, "arguments": arguments}


SCALE = {"scale": {"deployment": ["payments-api"], "replicas": [3], "ratio": ["", 0.5],
                   "zones": ["", ["us-east-1a", "us-east-1b"]], "force": ["", False]}}  # fmt: skip

RULES = [
    # (rule, expected, calls, any_order, passed, reason fragment)
    ("the name matches exactly", [SCALE], [call("scale", deployment="payments-api", replicas=3)],
     False, True, ""),
    ("a different name fails", [SCALE], [call("scale_deployment", deployment="payments-api", replicas=3)],
     False, False, "called scale_deployment, expected scale"),
    ("a required argument is missing", [SCALE], [call("scale", deployment="payments-api")],
     False, False, "required argument replicas is missing"),
    ("an optional argument may be left out", [SCALE], [call("scale", deployment="payments-api", replicas=3)],
     False, True, ""),
    ("an expected argument without '' is not optional",
     [{"unhealthy_pods": {"namespace": ["payments"]}}], [call("unhealthy_pods")],
     False, False, "argument namespace is missing"),
    ("an argument outside the schema is extra", [SCALE],
     [call("scale", deployment="payments-api", replicas=3, dry_run=True)],
     False, False, "unexpected argument dry_run"),
    ("an argument in the schema but not in the answer is extra",
     [{"unhealthy_pods": {"namespace": ["payments"]}}],
     [call("unhealthy_pods", namespace="payments", limit=5)], False, False, "unexpected argument limit"),
    ("an int for a number is allowed", [SCALE],
     [call("scale", deployment="payments-api", replicas=3, ratio=0)], False, False, "ratio=0 is not one of"),
    ("an int for a number has the number's type",
     [{"scale": {**SCALE["scale"], "ratio": [1.0]}}],
     [call("scale", deployment="payments-api", replicas=3, ratio=1)], False, True, ""),
    ("a string for an integer is not allowed", [SCALE],
     [call("scale", deployment="payments-api", replicas="3")], False, False, "replicas is str '3'"),
    ("a float for an integer is not allowed", [SCALE],
     [call("scale", deployment="payments-api", replicas=3.0)], False, False, "replicas is float"),
    ("a boolean is no integer", [SCALE],
     [call("scale", deployment="payments-api", replicas=True)], False, False, "replicas is bool"),
    ("strings are compared after normalisation", [SCALE],
     [call("scale", deployment="Payments API", replicas=3)], False, True, ""),
    ("a string outside the allowed values fails", [SCALE],
     [call("scale", deployment="payments-worker", replicas=3)], False, False, "is not one of ['payments-api']"),
    ("any allowed value passes", [{"unhealthy_pods": {"namespace": ["payments", "storefront"]}}],
     [call("unhealthy_pods", namespace="storefront")], False, True, ""),
    ("lists are compared in order", [SCALE],
     [call("scale", deployment="payments-api", replicas=3, zones=["us-east-1a", "us-east-1b"])],
     False, True, ""),
    ("a list in another order fails", [SCALE],
     [call("scale", deployment="payments-api", replicas=3, zones=["us-east-1b", "us-east-1a"])],
     False, False, "zones="),
    ("list items have the schema's type", [SCALE],
     [call("scale", deployment="payments-api", replicas=3, zones=[1, 2])], False, False, "zones is list"),
    ("null for a nullable argument is leaving it out", [{"unhealthy_pods": {"namespace": [""]}}],
     [call("unhealthy_pods", namespace=None)], False, True, ""),
    ("parallel calls match in any order",
     [{"unhealthy_pods": {"namespace": ["payments"]}}, {"unhealthy_pods": {"namespace": ["storefront"]}}],
     [call("unhealthy_pods", namespace="storefront"), call("unhealthy_pods", namespace="payments")],
     True, True, ""),
    ("ordered calls do not match out of order",
     [{"cluster_health_summary": {}}, {"unhealthy_pods": {"namespace": ["payments"]}}],
     [call("unhealthy_pods", namespace="payments"), call("cluster_health_summary")],
     False, False, "call 1: called unhealthy_pods, expected cluster_health_summary"),
    ("parallel calls need equal counts",
     [{"unhealthy_pods": {"namespace": ["payments"]}}, {"unhealthy_pods": {"namespace": ["storefront"]}}],
     [call("unhealthy_pods", namespace="payments")], True, False,
     "expected 2 call(s) of unhealthy_pods, unhealthy_pods, got 1: unhealthy_pods"),
    ("a needed call not made",
     [{"cluster_health_summary": {}}], [], True, False,
     "expected 1 call(s) of cluster_health_summary, got none"),
    ("one call cannot match two expected ones",
     [{"unhealthy_pods": {"namespace": ["payments"]}}, {"unhealthy_pods": {"namespace": ["payments", "storefront"]}}],
     [call("unhealthy_pods", namespace="payments"), call("unhealthy_pods", namespace="ml-serving")],
     True, False, "no call matches unhealthy_pods"),
    ("irrelevance passes with no call", [], [], False, True, ""),
    ("irrelevance fails with any call", [], [call("cluster_health_summary")],
     False, False, "no tool should be called, but cluster_health_summary was"),
    ("arguments as a JSON string are read", [SCALE],
     [{"name": "scale", "arguments": '{"deployment": "payments-api", "replicas": 3}'}], False, True, ""),
    ("arguments that are not JSON fail", [SCALE],
     [{"name": "scale", "arguments": "deployment=payments-api"}], False, False, "not JSON"),
    ("a tool without arguments matches an empty object", [{"cluster_health_summary": {}}],
     [{"name": "cluster_health_summary", "arguments": "{}"}], False, True, ""),
    ("a nested list of numbers is one allowed value", [{"rebalance": {"weights": [[[1, 2], [3, 4]]]}}],
     [call("rebalance", weights=[[1, 2], [3, 4]])], False, True, ""),
    ("a nested list in another order fails", [{"rebalance": {"weights": [[[1, 2], [3, 4]]]}}],
     [call("rebalance", weights=[[3, 4], [1, 2]])], False, False, "weights=[[3, 4], [1, 2]] is not one of"),
    ("an int in a list of numbers stands for a number (BFCL's nested check differs)",
     [{"rebalance": {"ratios": [[0.5, 1.0]]}}], [call("rebalance", ratios=[0.5, 1])], False, True, ""),
    ("a list's strings are normalised", [{"scale": {**SCALE["scale"], "zones": [["us-east-1a"]]}}],
     [call("scale", deployment="payments-api", replicas=3, zones=["US East 1A"])], False, True, ""),
    ("items typed as the allowed list's pass", [{"scale": {**SCALE["scale"], "zones": [[1, 2]]}}],
     [call("scale", deployment="payments-api", replicas=3, zones=[1, 2])], False, True, ""),
    ("either quote inside a string", [{"rebalance": {"mode": ["it's 'fast'"]}}],
     [call("rebalance", mode='IT"S "fast"')], False, True, ""),
    ("an empty string is a value of an optional string", [{"rebalance": {"mode": ["", "fast"]}}],
     [call("rebalance", mode="")], False, True, ""),
    ("an empty string is no value of a needed string", [{"rebalance": {"mode": ["fast"]}}],
     [call("rebalance", mode="")], False, False, "mode='' is not one of ['fast']"),
    ("an answer of another type than the schema's is a variable", [{"rebalance": {"dry_run": ["", "dontcare"]}}],
     [call("rebalance", dry_run="dontcare")], False, True, ""),
    ("a variable is compared as written", [{"rebalance": {"dry_run": ["", "dontcare"]}}],
     [call("rebalance", dry_run="Dont care")], False, False, "dry_run='Dont care' is not one of ['dontcare']"),
    ("a value of neither the schema's type nor the answer's fails", [{"rebalance": {"dry_run": ["", "dontcare"]}}],
     [call("rebalance", dry_run=1)], False, False, "dry_run is int 1"),
    ("null among the allowed values is a value", [{"rebalance": {"mode": ["", None]}}],
     [call("rebalance", mode=None)], False, True, ""),
    ("null where the schema wants a string and no null is allowed", [{"rebalance": {"mode": ["", "fast"]}}],
     [call("rebalance", mode=None)], False, False, "mode is NoneType None"),
    ("an object may leave out a key allowed to be missing",
     [{"rebalance": {"labels": [{"team": ["payments"], "tier": ["", "gold"]}]}}],
     [call("rebalance", labels={"team": "Payments"})], False, True, ""),
    ("an object with a key outside the answer fails",
     [{"rebalance": {"labels": [{"team": ["payments"], "tier": ["", "gold"]}]}}],
     [call("rebalance", labels={"team": "payments", "owner": "sre"})], False, False, "labels="),
    ("an object without a needed key fails",
     [{"rebalance": {"labels": [{"team": ["payments"], "tier": ["", "gold"]}]}}],
     [call("rebalance", labels={"tier": "gold"})], False, False, "labels="),
    ("a list of objects is compared object by object",
     [{"rebalance": {"limits": [[{"kind": ["cpu"], "max": [2, 4]}, {"kind": ["memory"], "max": [""]}]]}}],
     [call("rebalance", limits=[{"kind": "CPU", "max": 4}, {"kind": "memory"}])], False, True, ""),
    ("a list of objects needs as many objects",
     [{"rebalance": {"limits": [[{"kind": ["cpu"], "max": [2, 4]}]]}}],
     [call("rebalance", limits=[{"kind": "cpu", "max": 4}, {"kind": "cpu", "max": 4}])], False, False, "limits="),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "expected", "calls", "any_order", "passed", "reason"), RULES, ids=[r[0] for r in RULES]
)
def test_bfcl_rule(rule, expected, calls, any_order, passed, reason):
    match = match_calls(TOOLS, expected, calls, any_order=any_order)
    assert match.passed is passed, match.reasons
    if reason:
        assert any(reason in r for r in match.reasons), match.reasons
    else:
        assert match.reasons == ()


def test_names_match_tells_selection_apart_from_arguments():
    wrong_args = match_calls(
        TOOLS, [SCALE], [call("scale", deployment="x", replicas=3)], any_order=False
    )
    assert not wrong_args.passed and wrong_args.names_match
    wrong_tool = match_calls(TOOLS, [SCALE], [call("cluster_health_summary")], any_order=False)
    assert not wrong_tool.passed and not wrong_tool.names_match


def test_normalisation_is_bfcl_s():
    assert normalise("Payments-API, v2.1/*^ _") == "paymentsapiv21"
    assert normalise("It's") == 'it"s'


@pytest.mark.parametrize(
    ("text", "left"),
    [
        ('{"name": "unhealthy_pods", "parameters": {"namespace": "payments"}}', True),
        ("<|python_tag|>unhealthy_pods.call(namespace='payments')", True),
        ("<tool_call>{...}</tool_call>", True),
        ("[unhealthy_pods(namespace='payments')]", True),
        ("The payments-api pod is crash-looping: it was OOMKilled 14 times.", False),
        ("Use unhealthy pods to check", False),
    ],
)
def test_a_call_left_in_the_text_is_seen(text, left):
    assert call_in_text(text, ["unhealthy_pods", "node_status"]) is left


def test_repeated_calls_count_a_loop():
    same = call("unhealthy_pods", namespace="payments")
    calls = [same, {"name": "unhealthy_pods", "arguments": '{"namespace": "payments"}'}, same,
             call("unhealthy_pods", namespace="storefront")]  # fmt: skip
    assert repeated_calls(calls) == 2
    assert repeated_calls([]) == 0


@pytest.mark.parametrize(
    ("successes", "trials", "k", "value"),
    [(3, 3, 3, 1.0), (2, 3, 1, 2 / 3), (2, 3, 2, 1 / 3), (2, 3, 3, 0.0), (0, 4, 1, 0.0)],
)
def test_pass_hat_k_is_tau_bench_s(successes, trials, k, value):
    assert pass_hat_k(successes, trials, k) == pytest.approx(value)


def test_pass_hat_k_refuses_k_above_the_trials():
    with pytest.raises(ValueError, match="k <= trials"):
        pass_hat_k(1, 2, 3)


def test_facts_are_found_after_normalisation():
    text = "payments-api in payments is CrashLoopBackOff (OOMKilled), restarted 14 times."
    assert answer_has_facts(text, ["Payments API", "oomkilled", "14"]) == []
    assert answer_has_facts(text, ["worker-1"]) == ["worker-1"]
