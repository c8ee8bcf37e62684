"""NetworkPolicies enforced on loopback: who may connect to whom in the fake cluster.

The servers in tests all listen on 127.0.0.1, so a connection does not say which pod it comes
from. An :class:`Edge` does: one policy-checking TCP proxy per (source pod, destination pod
and port). It decides from the NetworkPolicies and the namespaces' labels in the fake API's
store, evaluated as Kubernetes does, when it opens and again at each write of a policy or a
namespace (``FakeKube.subscribe``), so the decision is made before a connection arrives, as a
CNI programs its rules before the packets come. Admitted, each connection is forwarded byte
for byte; refused, the connection never opens.

How it refuses, and why so: a cluster's network drops the packets of a refused connection, so
the client's SYNs go unanswered and it gives up at its *connect* timeout (``requests``'
``ConnectTimeout``), never a reset and never a connection that opens and then stays silent (a
read timeout). A proxy that accepted and held the connection would show the second. To drop
SYNs without privileges (no iptables), a refusing Edge stops accepting and fills its
listener's accept queue, created small, with connections of its own: Linux drops a SYN to a
listener whose accept queue is full (``tcp_conn_request``; ``net.ipv4.tcp_abort_on_overflow``
is 0 by default, else it would reset), and the client retransmits until its connect timeout.
The queue's length is read with ``TCP_INFO`` (a listener's ``tcpi_unacked``, as ``ss`` shows
it), so the Edge knows when it is full. Admitted again, the Edge closes its fillers and accepts
as before. Nothing polls: the accept thread sleeps in ``poll`` until a connection or a
decision arrives. Connections already forwarded stay open when the edge is refused later, as
conntrack keeps them on most CNIs. Linux only, as the tests' machines are.

A connection racing the policy write itself (its handshake done before the queue is full)
waits in the queue until the Edge admits again: a read timeout, as a connection racing a CNI's
rule update may see on a cluster. Tests write their policies before they connect, and write
them whole (the store tells of writes, not of an object changed in place).

An admitted connection whose upstream cannot be reached (the server is down, or a next Edge
refuses, as for the router behind a Route) is closed after a 10 s connect: a reset, where
OpenShift's router would answer 503.

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
import select
import socket
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.fake_kube import FakeKube, Key

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


# The writes that can change a decision: a policy, or a namespace's labels.
DECIDING = {("networkpolicies", "networking.k8s.io"), ("namespaces", "")}
# The listener's backlog: room for a burst of connections while admitted, and as many
# fillers (one more, as Linux counts) while refused.
BACKLOG = 8


class Edge:
    """A TCP proxy for the connections ``source`` makes to ``destination``'s ``port``, served
    at ``upstream`` (a loopback URL); ``url`` is where the source connects instead (the
    upstream's URL, path included, at the Edge's address).

    Use it as a context manager: entering subscribes to the fake and starts the accept thread;
    leaving unsubscribes, closes every connection and joins every thread it started.
    ``admitted`` is the decision now; ``forwarded`` counts the connections passed on.
    """

    def __init__(
        self, fake: FakeKube, source: Pod, destination: Pod, port: Port, upstream: str
    ) -> None:
        self.fake, self.source, self.destination, self.port = fake, source, destination, port
        target = urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=BACKLOG)
        self.listener.setblocking(False)
        self.address = self.listener.getsockname()
        self.url = f"{target.scheme}://127.0.0.1:{self.address[1]}{target.path}"
        self.admitted = True
        self.forwarded = 0
        self._fillers: dict[tuple[str, int], socket.socket] = {}  # by their own address
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()
        self._lock = threading.Lock()
        self._wake, self._waker = socket.socketpair()  # tells the accept thread to look again
        self._closed = False
        self._unsubscribe = lambda: None

    def allowed(self) -> bool:
        policies, namespaces = cluster_view(self.fake)
        return admits(policies, namespaces, self.source, self.destination, self.port)

    def __enter__(self) -> Edge:
        self._unsubscribe = self.fake.subscribe(self._changed)
        self._decide()
        self._start(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._unsubscribe()
        with self._lock:
            self._closed = True
            self._waker.send(b"x")
            connections = [*self._open, *self._fillers.values()]
            self._fillers.clear()
        for connection in connections:
            with contextlib.suppress(OSError):  # wakes a recv() in a pipe; close() alone does not
                connection.shutdown(socket.SHUT_RDWR)
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:  # a forwarding thread joins the one it started
            thread.join(timeout=10)
        for sock in [*connections, self.listener, self._wake, self._waker]:
            sock.close()

    def _changed(self, key: Key) -> None:
        if (key[0], key[3]) in DECIDING:
            self._decide()

    def _decide(self) -> None:
        """Evaluate the policies now and open or close the edge to match."""
        # The fake's lock, then the Edge's, always in that order (writers hold the first when
        # they tell us): two writers cannot apply their decisions out of order.
        with self.fake._lock, self._lock:
            admitted = self.allowed()
            if self._closed or admitted == self.admitted:
                return
            if admitted:
                self.admitted = True
                self._drain()  # at once: a client connecting right after the write gets in
            else:
                self._drain()  # what came while admitted goes through
                self.admitted = False
                self._fill()
            self._waker.send(b"x")

    def _queued(self) -> tuple[int, int]:
        """The listener's accept queue: (its length, the most it holds before it is full)."""
        info = self.listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        return struct.unpack_from("II", info, 24)  # tcpi_unacked, tcpi_sacked

    def _fill(self) -> None:
        length, most = self._queued()
        while length <= most:  # Linux: full when longer than the backlog
            filler = socket.socket()
            filler.settimeout(1)
            try:
                filler.connect(self.address)
            except OSError:  # a racing client took the last place: full all the same
                filler.close()
                return
            self._fillers[filler.getsockname()] = filler
            length, most = self._queued()

    def _drain(self) -> None:
        """Accept every queued connection: the Edge's own fillers are closed, the others
        forwarded. Called with the lock held."""
        while True:
            try:
                connection, peer = self.listener.accept()
            except (BlockingIOError, OSError):
                return
            filler = self._fillers.pop(peer, None)
            if filler is not None or self._closed:
                connection.close()
                if filler is not None:
                    filler.close()
                continue
            connection.setblocking(True)
            self._open.add(connection)
            self._start(self._forward, connection)

    def _accept(self) -> None:
        while True:
            poller = select.poll()  # not select(): a long test run may hold fds past 1024
            poller.register(self._wake, select.POLLIN)
            with self._lock:
                if self._closed:
                    return
                if self.admitted:  # refused, the listener is readable (the fillers): not watched
                    poller.register(self.listener, select.POLLIN)
            ready = {fd for fd, _ in poller.poll()}
            if self._wake.fileno() in ready:
                self._wake.recv(64)
            with self._lock:
                if self.admitted and not self._closed:
                    self._drain()

    def _forward(self, connection: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            upstream = None  # the server itself is down: a reset, as on a cluster
        with self._lock:
            if upstream is None or self._closed:
                self._open.discard(connection)
                connection.close()
                if upstream is not None:
                    upstream.close()
                return
            upstream.settimeout(None)
            self.forwarded += 1
            self._open.add(upstream)
        back = self._start(_pipe, upstream, connection)
        _pipe(connection, upstream)
        back.join()
        with self._lock:
            self._open -= {connection, upstream}
        connection.close()
        upstream.close()

    def _start(self, target: Any, *args: Any) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._threads_lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return thread


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
