"""The dataset format: the built-in datasets hold, their facts are true of the snapshot, and a
malformed dataset is refused with the case and the problem."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from llama_rollout.evals.dataset import (
    DatasetError,
    check_against_tools,
    load_dataset,
    parse_dataset,
)
from llama_rollout.evals.scoring import answer_has_facts
from llama_rollout.mcp_server import bundled_snapshot
from llama_rollout.mcp_server.cluster import SnapshotCluster
from llama_rollout.mcp_server.server import create_server


@pytest.fixture(scope="module")
def server():
    return create_server(SnapshotCluster(bundled_snapshot()))


@pytest.fixture(scope="module")
def tools(server):
    return [t.model_dump(by_alias=True) for t in asyncio.run(server.list_tools())]


def test_the_built_in_dataset_covers_what_it_must(tools):
    loaded = load_dataset("cluster-health")
    cases = loaded.dataset.cases
    assert len(cases) >= 50
    assert sum(c.irrelevance for c in cases) >= 10
    assert sum(c.greeting for c in cases) >= 3
    assert loaded.dataset.tools == {t["name"] for t in tools}, "every tool has cases"
    assert sum(len(c.turns) > 1 for c in cases) >= 4, "multi-turn follow-ups"
    assert sum(any(len(t.expected_calls) > 1 for t in c.turns) for c in cases) >= 4
    assert len(loaded.sha256) == 64 and loaded.origin == "built-in cluster-health"
    check_against_tools(loaded.dataset, tools)


def test_the_live_dataset_is_grounded_only(tools):
    live = load_dataset("cluster-health-live").dataset
    check_against_tools(live, tools)
    for case in live.cases:
        for turn in case.turns:
            assert not turn.facts, f"{case.id}: a live cluster's facts are not known"
            assert turn.grounded or case.irrelevance, case.id


def test_the_facts_are_what_the_expected_calls_return_on_the_snapshot(server):
    """The dataset is honest: each fact is in the output of the calls the turn expects (or of
    the conversation so far), made with the first allowed value of each argument."""
    for case in load_dataset("cluster-health").dataset.cases:
        if case.irrelevance:
            continue
        conversation = ""
        for number, turn in enumerate(case.turns, 1):
            for call in turn.calls:
                ((tool, allowed),) = call.items()
                arguments = {a: v[0] for a, v in allowed.items() if v[0] != ""}
                result = asyncio.run(server.call_tool(tool, arguments))
                assert not result.is_error, (case.id, tool, result)
                conversation += "".join(c.text for c in result.content)
            missing = answer_has_facts(conversation, turn.facts)
            assert missing == [], f"{case.id} turn {number}: {missing} not in the tools' output"


def document(**case):
    body = {"id": "c1", "turns": [{"input": "Which pods fail?"}], **case}
    return yaml.safe_dump({"name": "t", "cases": [body]})


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("name: t\ncases: [", r"is not YAML"),
        ("- a\n- b\n", r"is not a mapping with name and cases"),
        ("name: t\ncases: []\n", r"cases: Tuple should have at least 1 item"),
        (yaml.safe_dump({"name": "t", "cases": [{"turns": [{"input": "x"}]}]}),
         r"case #1: id: Field required"),
        (document(id="Bad Id"), r"case #1: id: ids are lower case"),
        (document(turns=[]), r"case c1: turns: Tuple should have at least 1 item"),
        (document(turns=[{"expected_calls": []}]), r"case c1, turn 1: input: Field required"),
        (document(turns=[{"input": ""}]), r"case c1, turn 1: input: String should have at least 1"),
        (document(turns=[{"input": "x", "expected_calls": {"node_status": {}}}]),
         r"case c1, turn 1: expected_calls: expected_calls must be a list"),
        (document(turns=[{"input": "x", "expected_calls": [{"a": {}, "b": {}}]}]),
         r"expected call 1 must be one \{tool"),
        (document(turns=[{"input": "x", "expected_calls": [{"node_status": {"name": "worker-1"}}]}]),
         r"argument 1 of expected call 1 must be a list of allowed values"),
        (document(turns=[{"input": "x", "expected_calls": [{"node_status": ["name"]}]}]),
         r"the arguments of expected call 1 must be a mapping"),
        (document(tags=["irrelevance"], turns=[{"input": "hi", "expected_calls": [{"x": {}}]}]),
         r"case c1: an irrelevance case expects no calls"),
        (document(turns=[{"input": "x", "facts": [" "]}]), r"turn 1: facts: a fact is empty"),
        (document(turns=[{"input": "x", "expect": []}]), r"turn 1: expect: Extra inputs"),
        (yaml.safe_dump({"name": "t", "cases": [{"id": "a", "turns": [{"input": "x"}]},
                                                 {"id": "a", "turns": [{"input": "y"}]}]}),
         r"case a: the id is used twice"),
    ],
)  # fmt: skip
def test_a_malformed_dataset_names_the_case_and_the_problem(raw, says):
    with pytest.raises(DatasetError, match=says):
        parse_dataset(raw, "my.yaml")


@pytest.mark.parametrize(
    ("call", "says"),
    [
        ({"restart_pod": {}}, r"case c1, turn 1: restart_pod is not a tool of the server"),
        ({"node_status": {"node": ["worker-1"]}}, r"node_status has no argument node"),
        ({"unhealthy_pods": {"limit": ["ten"]}}, r"allowed value of limit is str 'ten'"),
    ],
)
def test_expected_calls_the_tools_cannot_take_are_refused(call, says, tools):
    dataset = parse_dataset(document(turns=[{"input": "x", "expected_calls": [call]}]))
    with pytest.raises(DatasetError, match=says):
        check_against_tools(dataset, tools)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DatasetError, match=r"dataset .*nope.yaml does not exist.*cluster-health"):
        load_dataset(str(tmp_path / "nope.yaml"))


def test_a_subset_keeps_the_order_and_refuses_unknown_ids():
    dataset = load_dataset("cluster-health").dataset
    subset = dataset.subset(["hello", "summary-how-healthy"])
    assert [c.id for c in subset.cases] == ["summary-how-healthy", "hello"]
    with pytest.raises(DatasetError, match="has no case nope"):
        dataset.subset(["nope"])
