"""NetworkPolicy evaluation with Kubernetes' semantics, and the policy-checking edge proxy."""

from __future__ import annotations

import threading

import pytest
import requests

from tests.fake_kube import FakeKube
from tests.network_policy import Edge, Pod, Port, admits, selector_matches
from tests.servers import serve_app

NAMESPACES = {
    "app": {"kubernetes.io/metadata.name": "app", "team": "a"},
    "other": {"kubernetes.io/metadata.name": "other", "team": "b"},
    "ingress": {"kubernetes.io/metadata.name": "ingress", "policy-group": "ingress"},
}
SERVER = Pod("app", {"app": "server", "tier": "api"})
PORT = Port(8443, "https")
HERE_CLIENT = Pod("app", {"app": "client"})
THERE_CLIENT = Pod("other", {"app": "client"})
THERE_OTHER = Pod("other", {"app": "batch"})


def policy(spec: dict, namespace: str = "app", name: str = "p") -> dict:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


def ingress(*rules: dict, selector: dict | None = None) -> dict:
    return policy(
        {"podSelector": selector or {}, "policyTypes": ["Ingress"], "ingress": list(rules)}
    )


CLIENTS = {"here": HERE_CLIENT, "there": THERE_CLIENT, "there-other": THERE_OTHER}
CASES = {
    "no policy: all admitted": ([], {"here", "there", "there-other"}),
    "deny all": ([ingress()], set()),
    "a policy in another namespace isolates nothing": (
        [policy({"podSelector": {}, "policyTypes": ["Ingress"]}, namespace="other")],
        {"here", "there", "there-other"},
    ),
    "a policy selecting other pods isolates nothing": (
        [ingress(selector={"matchLabels": {"app": "db"}})], {"here", "there", "there-other"}
    ),
    "podSelector alone: the policy's namespace": (
        [ingress({"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]})], {"here"}
    ),
    "namespaceSelector alone: every pod there": (
        [ingress({"from": [{"namespaceSelector": {"matchLabels": {"team": "b"}}}]})],
        {"there", "there-other"},
    ),
    "both in one peer: AND": (
        [ingress({"from": [{"namespaceSelector": {"matchLabels": {"team": "b"}},
                            "podSelector": {"matchLabels": {"app": "client"}}}]})],
        {"there"},
    ),
    "two peers: OR": (
        [ingress({"from": [{"namespaceSelector": {"matchLabels": {"team": "b"}}},
                           {"podSelector": {"matchLabels": {"app": "client"}}}]})],
        {"here", "there", "there-other"},
    ),
    "an empty namespaceSelector with a podSelector: those pods everywhere": (
        [ingress({"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "client"}}}]})],
        {"here", "there"},
    ),
    "no from: every source": ([ingress({"ports": [{"port": 8443}]})], {"here", "there", "there-other"}),
    "an empty from: every source": ([ingress({"from": []})], {"here", "there", "there-other"}),
    "ipBlock matches no pod": ([ingress({"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]})], set()),
    "policies add up": (
        [ingress(), ingress({"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}}}]})],
        {"here"},
    ),
    "another port only": ([ingress({"ports": [{"protocol": "TCP", "port": 8080}]})], set()),
    "the port by name": ([ingress({"ports": [{"port": "https"}]})], {"here", "there", "there-other"}),
    "a port range": (
        [ingress({"ports": [{"port": 8000, "endPort": 9000}]})], {"here", "there", "there-other"}
    ),
    "another protocol": ([ingress({"ports": [{"protocol": "UDP", "port": 8443}]})], set()),
    "an Egress-only policy does not isolate ingress": (
        [policy({"podSelector": {"matchLabels": {"app": "server"}}, "policyTypes": ["Egress"]})], {"here", "there", "there-other"}
    ),
    "without policyTypes, a policy is Ingress": ([policy({"podSelector": {}})], set()),
    "the source's egress is checked too": (
        [policy({"podSelector": {"matchLabels": {"app": "client"}}, "egress": [{"to": [
            {"namespaceSelector": {"matchLabels": {"team": "b"}}}]}]}, namespace="other")],
        {"here", "there-other"},
    ),
}  # fmt: skip


@pytest.mark.parametrize(("policies", "admitted"), CASES.values(), ids=CASES.keys())
def test_kubernetes_semantics(policies, admitted):
    allowed = {
        name for name, pod in CLIENTS.items() if admits(policies, NAMESPACES, pod, SERVER, PORT)
    }
    assert allowed == admitted


@pytest.mark.parametrize(
    ("requirement", "matches"),
    [
        ({"key": "tier", "operator": "In", "values": ["api", "web"]}, True),
        ({"key": "tier", "operator": "In", "values": ["web"]}, False),
        ({"key": "tier", "operator": "NotIn", "values": ["web"]}, True),
        ({"key": "zone", "operator": "NotIn", "values": ["a"]}, True),
        ({"key": "tier", "operator": "NotIn", "values": ["api"]}, False),
        ({"key": "tier", "operator": "Exists"}, True),
        ({"key": "zone", "operator": "Exists"}, False),
        ({"key": "zone", "operator": "DoesNotExist"}, True),
        ({"key": "tier", "operator": "DoesNotExist"}, False),
    ],
)
def test_match_expressions(requirement, matches):
    assert selector_matches({"matchExpressions": [requirement]}, SERVER.labels) is matches
    both = {"matchLabels": {"app": "db"}, "matchExpressions": [requirement]}
    assert selector_matches(both, SERVER.labels) is False, "matchLabels and expressions: AND"


def counting_app(seen: list[str]):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def answer(request):
        seen.append(request.url.path)
        return PlainTextResponse("answered")

    return Starlette(routes=[Route("/{path:path}", answer)])


def test_the_edge_forwards_admitted_connections_and_holds_refused_ones():
    fake = FakeKube()
    for name, labels in NAMESPACES.items():
        fake.add_namespace(name, labels)
    seen: list[str] = []
    with (
        serve_app(counting_app(seen)) as upstream,
        Edge(fake, THERE_CLIENT, SERVER, PORT, upstream) as edge,
    ):
        assert requests.get(f"{edge.url}/first", timeout=30).text == "answered"
        # Read at connect time: a policy written now refuses the next connection.
        fake.put("networkpolicies", {"apiVersion": "networking.k8s.io/v1", **ingress()})
        with pytest.raises(requests.ReadTimeout):  # connected, then silence: no reset, no answer
            requests.get(f"{edge.url}/second", timeout=(30, 0.5))
        assert seen == ["/first"] and len(edge.held) == 1 and edge.forwarded == 1
        del fake.objects[("networkpolicies", "app", "p", "networking.k8s.io")]
        assert requests.get(f"{edge.url}/third", timeout=30).text == "answered"
        assert seen == ["/first", "/third"]


def test_a_held_connection_stays_silent_while_others_pass():
    fake = FakeKube()
    for name, labels in NAMESPACES.items():
        fake.add_namespace(name, labels)
    fake.put("networkpolicies", {"apiVersion": "networking.k8s.io/v1",
                                 **ingress({"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]})})  # fmt: skip
    seen: list[str] = []
    with (
        serve_app(counting_app(seen)) as upstream,
        Edge(fake, THERE_CLIENT, SERVER, PORT, upstream) as refused,
        Edge(fake, HERE_CLIENT, SERVER, PORT, upstream) as allowed,
    ):
        errors: list[BaseException] = []

        def wait_on_refused() -> None:
            try:
                requests.get(f"{refused.url}/x", timeout=(30, 1))
            except requests.RequestException as exc:
                errors.append(exc)

        waiting = threading.Thread(target=wait_on_refused)
        waiting.start()
        assert requests.get(f"{allowed.url}/y", timeout=30).text == "answered"
        waiting.join(timeout=60)
        assert [type(e) for e in errors] == [requests.ReadTimeout]
        assert seen == ["/y"]
