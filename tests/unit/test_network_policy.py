"""NetworkPolicy evaluation with Kubernetes' semantics, and the policy-checking edge proxy."""

from __future__ import annotations

import threading
import time

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


def cluster() -> FakeKube:
    fake = FakeKube()
    for name, labels in NAMESPACES.items():
        fake.add_namespace(name, labels)
    return fake


def deny_all() -> dict:
    return {"apiVersion": "networking.k8s.io/v1", **ingress()}


def test_a_refused_edge_times_out_at_connect_and_a_policy_change_flips_it_both_ways():
    fake = cluster()
    seen: list[str] = []
    with (
        serve_app(counting_app(seen)) as upstream,
        Edge(fake, THERE_CLIENT, SERVER, PORT, upstream) as edge,
    ):
        assert requests.get(f"{edge.url}/first", timeout=30).text == "answered"
        # Decided when the policy is written, before any connection: the SYNs are dropped.
        fake.put("networkpolicies", deny_all())
        assert not edge.admitted
        for attempt in ("/second", "/third"):  # each one, not only the first
            started = time.monotonic()
            with pytest.raises(requests.ConnectTimeout):  # never connected: no reset, no read
                requests.get(f"{edge.url}{attempt}", timeout=(0.5, 30))
            assert time.monotonic() - started < 5, "the connect timeout, not the read's"
        assert seen == ["/first"] and edge.forwarded == 1
        # Removed, even behind the fake's back: the very next connection is forwarded.
        del fake.objects[("networkpolicies", "app", "p", "networking.k8s.io")]
        assert edge.admitted
        assert requests.get(f"{edge.url}/fourth", timeout=(0.5, 30)).text == "answered"
        # A namespace's labels decide too: relabelled, "other" is no longer team b.
        fake.put("networkpolicies", {"apiVersion": "networking.k8s.io/v1", **ingress(
            {"from": [{"namespaceSelector": {"matchLabels": {"team": "b"}}}]})})  # fmt: skip
        assert requests.get(f"{edge.url}/fifth", timeout=(0.5, 30)).text == "answered"
        fake.add_namespace("other", {"team": "c"})
        with pytest.raises(requests.ConnectTimeout):
            requests.get(f"{edge.url}/sixth", timeout=(0.5, 30))
        fake.add_namespace("other", NAMESPACES["other"])
        assert requests.get(f"{edge.url}/seventh", timeout=(0.5, 30)).text == "answered"
        assert seen == ["/first", "/fourth", "/fifth", "/seventh"] and edge.forwarded == 4


def test_an_edge_refused_from_the_start_forwards_nothing():
    fake = cluster()
    fake.put("networkpolicies", deny_all())
    seen: list[str] = []
    with serve_app(counting_app(seen)) as upstream:
        with Edge(fake, THERE_CLIENT, SERVER, PORT, upstream) as edge:
            with pytest.raises(requests.ConnectTimeout):
                requests.get(f"{edge.url}/x", timeout=(0.5, 30))
            assert edge.forwarded == 0
        assert seen == []
        assert fake.objects.subscribers == [], "leaving unsubscribes"


def test_the_edge_sees_writes_through_the_api(cluster_api):
    fake, kube = cluster_api
    seen: list[str] = []
    with (
        serve_app(counting_app(seen)) as upstream,
        Edge(fake, THERE_CLIENT, SERVER, PORT, upstream) as edge,
    ):
        kube.create_namespaced_network_policy("app", deny_all())
        with pytest.raises(requests.ConnectTimeout):
            requests.get(f"{edge.url}/x", timeout=(0.5, 30))
        kube.delete_namespaced_network_policy("p", "app")
        assert requests.get(f"{edge.url}/y", timeout=(0.5, 30)).text == "answered"
        assert seen == ["/y"]


@pytest.fixture
def cluster_api():
    from kubernetes import client

    from tests.fake_kube import running

    fake = cluster()
    with running(fake) as url:
        api = client.ApiClient(client.Configuration(host=url))
        yield fake, client.NetworkingV1Api(api)


def test_a_refused_connection_waits_while_others_pass_and_closing_releases_every_thread():
    fake = cluster()
    fake.put("networkpolicies", {"apiVersion": "networking.k8s.io/v1",
                                 **ingress({"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]})})  # fmt: skip
    seen: list[str] = []
    before = threading.active_count()
    with serve_app(counting_app(seen)) as upstream:
        with (
            Edge(fake, THERE_CLIENT, SERVER, PORT, upstream) as refused,
            Edge(fake, HERE_CLIENT, SERVER, PORT, upstream) as allowed,
        ):
            errors: list[BaseException] = []

            def wait_on_refused() -> None:
                try:
                    requests.get(f"{refused.url}/x", timeout=(1, 30))
                except requests.RequestException as exc:
                    errors.append(exc)

            waiting = threading.Thread(target=wait_on_refused)
            waiting.start()
            with requests.Session() as session:  # a kept-alive connection, open at the close
                assert session.get(f"{allowed.url}/y", timeout=30).text == "answered"
                waiting.join(timeout=60)
                assert [type(e) for e in errors] == [requests.ConnectTimeout]
                assert seen == ["/y"]
                idle = threading.active_count()
                time.sleep(0.5)
                assert threading.active_count() == idle, "an Edge at rest starts nothing"
        edges = (refused, allowed)
        assert all(not t.is_alive() for e in edges for t in e._threads), "closing joins them"
        assert all(e.listener.fileno() == -1 and not e._fillers for e in edges)
    assert threading.active_count() <= before
