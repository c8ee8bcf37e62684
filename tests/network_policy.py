"""NetworkPolicies enforced on loopback: who may connect to whom in the fake cluster.

The servers in tests all listen on 127.0.0.1, so a connection does not say which pod it comes
from. An :class:`Edge` does: one policy-checking TCP proxy per (source pod, destination pod
and port). At each connection it reads the NetworkPolicies and the namespaces' labels from the
fake API's store, evaluates them as Kubernetes does, and forwards the connection or holds it
unanswered until the client gives up, as a cluster's network drops the packets of a refused
connection: the client sees a timeout, never a reset.

The evaluation (``admits`` and the selector functions) is pure, with Kubernetes' semantics
(``networking.k8s.io/v1`` NetworkPolicySpec, kubernetes/api ``networking/v1/types.go``):

- a pod is isolated for ingress (egress) when a policy in its namespace selects it and has
  ``Ingress`` (``Egress``) in ``policyTypes``; without ``policyTypes`` a policy is Ingress, and
  Egress too when it has egress rules;
- an isolated pod admits a connection that any rule of any selecting policy admits, in both
  directions (the source's egress and the destination's ingress);
- a rule with no ``from``/``to`` admits every peer, with no ``ports`` every port;
- a peer with only ``podSelector`` means pods of the policy's namespace; with only
  ``namespaceSelector``, every pod of those namespaces; with both, those pods in those
  namespaces; an empty selector matches everything; ``ipBlock`` is ignored (no pod IPs here);
- a port is a number or the container port's name, ``endPort`` makes a range, the protocol
  defaults to TCP.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.fake_kube import FakeKube

Labels = Mapping[str, str]
Policy = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    """A pod as NetworkPolicies see it: its namespace and labels."""

    namespace: str
    labels: Labels = field(default_factory=dict)


@dataclass(frozen=True)
class Port:
    """A destination's container port: number, name (for named ports) and protocol."""

    number: int
    name: str = ""
    protocol: str = "TCP"


def selector_matches(selector: Mapping[str, Any] | None, labels: Labels) -> bool:
    """A metav1.LabelSelector against labels; an empty selector matches everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for requirement in selector.get("matchExpressions") or []:
        key, operator = requirement["key"], requirement["operator"]
        values = requirement.get("values") or []
        present = key in labels
        matched = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not matched:
            return False
    return True


def peer_matches(
    peer: Mapping[str, Any], policy_namespace: str, pod: Pod, namespaces: Mapping[str, Labels]
) -> bool:
    """Whether a NetworkPolicyPeer of a policy in ``policy_namespace`` covers ``pod``."""
    if "podSelector" not in peer and "namespaceSelector" not in peer:
        return False  # an ipBlock: pods here have no addresses to match
    if "namespaceSelector" in peer:
        namespace_labels = namespaces.get(pod.namespace, {})
        if not selector_matches(peer["namespaceSelector"], namespace_labels):
            return False
    elif pod.namespace != policy_namespace:
        return False
    return selector_matches(peer.get("podSelector"), pod.labels)


def port_matches(ports: list[Mapping[str, Any]] | None, port: Port) -> bool:
    """Whether a rule's ports cover ``port``; no ports means all of them."""
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != port.protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str) and not wanted.isdigit():
            if wanted == port.name:
                return True
            continue
        end = entry.get("endPort", int(wanted))
        if int(wanted) <= port.number <= end:
            return True
    return False


def policy_types(policy: Policy) -> set[str]:
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return set(spec["policyTypes"])
    return {"Ingress", "Egress"} if spec.get("egress") else {"Ingress"}


def selecting(policies: list[Policy], pod: Pod, direction: str) -> list[Policy]:
    """The policies that isolate ``pod`` in ``direction`` (``Ingress`` or ``Egress``)."""
    return [
        p for p in policies
        if p["metadata"].get("namespace") == pod.namespace and direction in policy_types(p)
        and selector_matches((p.get("spec") or {}).get("podSelector"), pod.labels)
    ]  # fmt: skip


def _direction_admits(
    policies: list[Policy], pod: Pod, peer: Pod, port: Port,
    namespaces: Mapping[str, Labels], direction: str,
) -> bool:  # fmt: skip
    isolating = selecting(policies, pod, direction)
    if not isolating:
        return True
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in isolating:
        for rule in (policy.get("spec") or {}).get(rules_key) or []:
            peers = rule.get(peers_key)
            covered = not peers or any(
                peer_matches(p, pod.namespace, peer, namespaces) for p in peers
            )
            if covered and port_matches(rule.get("ports"), port):
                return True
    return False


def admits(
    policies: list[Policy], namespaces: Mapping[str, Labels], source: Pod, destination: Pod,
    port: Port,
) -> bool:  # fmt: skip
    """Whether a connection from ``source`` to ``destination``'s ``port`` is allowed: the
    source's egress and the destination's ingress both admit it."""
    return _direction_admits(
        policies, destination, source, port, namespaces, "Ingress"
    ) and _direction_admits(policies, source, destination, port, namespaces, "Egress")


def cluster_view(fake: FakeKube) -> tuple[list[Policy], dict[str, Labels]]:
    """The NetworkPolicies and each namespace's labels, as the fake API holds them now."""
    with fake._lock:
        policies = [
            o for (plural, _, _, group), o in fake.objects.items()
            if (plural, group) == ("networkpolicies", "networking.k8s.io")
        ]  # fmt: skip
        namespaces = {
            name: dict(o["metadata"].get("labels") or {})
            for (plural, _, name, group), o in fake.objects.items()
            if (plural, group) == ("namespaces", "")
        }
    return policies, namespaces


class Edge:
    """A TCP proxy for the connections ``source`` makes to ``destination``'s ``port``, served
    at ``upstream`` (a loopback URL); ``url`` is where the source connects instead.

    Each connection is checked when it arrives: allowed, it is forwarded byte for byte;
    refused, it is held, never read, answered or forwarded, until the proxy closes.
    """

    def __init__(
        self, fake: FakeKube, source: Pod, destination: Pod, port: Port, upstream: str
    ) -> None:
        self.fake, self.source, self.destination, self.port = fake, source, destination, port
        target = urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.url = f"{target.scheme}://127.0.0.1:{self.listener.getsockname()[1]}"
        self.forwarded = 0
        self.held: list[socket.socket] = []
        self._open: list[socket.socket] = []
        self._closed = threading.Event()

    def allowed(self) -> bool:
        policies, namespaces = cluster_view(self.fake)
        return admits(policies, namespaces, self.source, self.destination, self.port)

    def __enter__(self) -> Edge:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):  # wakes the accept() below; close() alone does not
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for connection in [*self.held, *self._open]:
            connection.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            if not self.allowed():
                self.held.append(connection)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                connection.close()  # the server itself is down: a reset, as on a cluster
                continue
            upstream.settimeout(None)
            self.forwarded += 1
            self._open += [connection, upstream]
            for a, b in ((connection, upstream), (upstream, connection)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
