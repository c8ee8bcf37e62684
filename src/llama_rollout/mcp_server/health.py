"""What the cluster-health tools answer: plain functions over a ClusterSource.

Each returns JSON-ready data an operations assistant can quote: names, reasons, counts, and a
``problems`` list of sentences. Nothing here writes to the cluster.
"""

from __future__ import annotations

from typing import Any

from llama_rollout.mcp_server.cluster import ClusterSource, ClusterUnavailable, require_namespace

PRESSURE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
BAD_WAITING = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "InvalidImageName",
    "RunContainerError",
}
RESTART_ALERT = 5


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def _name(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


# -- nodes -----------------------------------------------------------------------------------


def node_status(source: ClusterSource, name: str | None = None) -> dict[str, Any]:
    """Readiness, pressure conditions and capacity of every node (or one)."""
    nodes = source.list("nodes")
    if name:
        nodes = [n for n in nodes if n["metadata"]["name"] == name]
        if not nodes:
            raise ClusterUnavailable(f"node {name!r} does not exist")
    result = []
    for node in nodes:
        conditions = _conditions(node)
        ready = conditions.get("Ready", {})
        pressure = [t for t in PRESSURE_CONDITIONS if conditions.get(t, {}).get("status") == "True"]
        labels = node["metadata"].get("labels") or {}
        status = node.get("status") or {}
        result.append(
            {
                "name": node["metadata"]["name"],
                "ready": ready.get("status") == "True",
                "ready_reason": ready.get("reason", ""),
                "ready_message": ready.get("message", ""),
                "pressure": pressure,
                "pressure_messages": {t: conditions[t].get("message", "") for t in pressure},
                "unschedulable": bool((node.get("spec") or {}).get("unschedulable")),
                "roles": sorted(
                    k.rsplit("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")
                ),
                "kubelet_version": (status.get("nodeInfo") or {}).get("kubeletVersion", ""),
                "allocatable": status.get("allocatable") or {},
            }
        )
    return {"nodes": result, "problems": _node_problems(result)}


def _node_problems(nodes: list[dict[str, Any]]) -> list[str]:
    problems = []
    for n in nodes:
        if not n["ready"]:
            problems.append(
                f"node {n['name']} is NotReady ({n['ready_reason']}: {n['ready_message']})"
            )
        problems += [
            f"node {n['name']} has {p}: {n['pressure_messages'][p]}" for p in n["pressure"]
        ]
        if n["unschedulable"]:
            problems.append(f"node {n['name']} is cordoned (unschedulable)")
    return problems


# -- pods ------------------------------------------------------------------------------------


def unhealthy_pods(
    source: ClusterSource, namespace: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """Pods that are failing, pending, not ready or restarting, with the reason and restarts."""
    require_namespace(source, namespace)
    found = []
    for pod in source.list("pods", namespace):
        problem = _pod_problem(pod)
        if problem:
            found.append(problem)
    found.sort(key=lambda p: (-p["restarts"], p["namespace"], p["name"]))
    return {"namespace": namespace or "all", "count": len(found), "pods": found[:limit]}


def _pod_problem(pod: dict[str, Any]) -> dict[str, Any] | None:
    status = pod.get("status") or {}
    phase = status.get("phase", "Unknown")
    if phase == "Succeeded":
        return None
    restarts = 0
    reason, message, last_termination = "", "", ""
    not_ready = []
    for container in (status.get("containerStatuses") or []) + (
        status.get("initContainerStatuses") or []
    ):
        restarts += container.get("restartCount", 0)
        waiting = (container.get("state") or {}).get("waiting") or {}
        terminated = (container.get("lastState") or {}).get("terminated") or {}
        if waiting.get("reason") in BAD_WAITING and not reason:
            reason, message = waiting["reason"], waiting.get("message", "")
        if terminated and not last_termination:
            last_termination = (
                f"{terminated.get('reason', '')} (exit code {terminated.get('exitCode', '?')})"
                + (f": {terminated['message'].strip()}" if terminated.get("message") else "")
            )
        if not container.get("ready"):
            not_ready.append(container["name"])
    scheduled = _conditions(pod).get("PodScheduled", {})
    if not reason and scheduled.get("status") == "False":
        reason, message = scheduled.get("reason", "Unschedulable"), scheduled.get("message", "")
    if not reason and phase in ("Failed", "Unknown", "Pending"):
        reason, message = status.get("reason", phase), status.get("message", "")
    if not reason and restarts < RESTART_ALERT and not (phase == "Running" and not_ready):
        return None
    return {
        "namespace": pod["metadata"]["namespace"],
        "name": pod["metadata"]["name"],
        "phase": phase,
        "reason": reason or ("NotReady" if not_ready else "Restarting"),
        "message": message,
        "restarts": restarts,
        "not_ready_containers": not_ready,
        "last_termination": last_termination,
        "node": (pod.get("spec") or {}).get("nodeName", ""),
    }


# -- events ----------------------------------------------------------------------------------


def warning_events(
    source: ClusterSource,
    namespace: str | None = None,
    object_name: str | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    """Recent Warning events, newest first, optionally for one namespace or object."""
    require_namespace(source, namespace)
    events = []
    for event in source.list("events", namespace):
        if event.get("type") != "Warning":
            continue
        involved = event.get("involvedObject") or event.get("regarding") or {}
        if object_name and involved.get("name") != object_name:
            continue
        events.append(
            {
                "namespace": event["metadata"].get("namespace", ""),
                "object": f"{involved.get('kind', '')}/{involved.get('name', '')}",
                "reason": event.get("reason", ""),
                "message": (event.get("message") or event.get("note") or "").strip(),
                "count": event.get("count") or (event.get("series") or {}).get("count") or 1,
                "last_seen": event.get("lastTimestamp") or event.get("eventTime") or "",
            }
        )
    events.sort(key=lambda e: e["last_seen"], reverse=True)
    return {
        "namespace": namespace or "all",
        "count": len(events),
        "events": events[: max(limit, 0)],
    }


# -- workloads and operators -----------------------------------------------------------------


def deployment_status(
    source: ClusterSource, namespace: str | None = None, name: str | None = None
) -> dict[str, Any]:
    """Desired, ready, available and updated replicas of Deployments, with failing conditions."""
    require_namespace(source, namespace)
    result = []
    for deployment in source.list("deployments", namespace):
        if name and deployment["metadata"]["name"] != name:
            continue
        spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
        desired = spec.get("replicas", 1)
        conditions = _conditions(deployment)
        failing = {
            t: f"{c.get('reason', '')}: {c.get('message', '')}"
            for t, c in conditions.items()
            if (t == "Available" and c.get("status") == "False")
            or (t == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded")
            or (t == "ReplicaFailure" and c.get("status") == "True")
        }
        available = status.get("availableReplicas", 0)
        result.append(
            {
                "namespace": deployment["metadata"]["namespace"],
                "name": deployment["metadata"]["name"],
                "desired": desired,
                "ready": status.get("readyReplicas", 0),
                "available": available,
                "updated": status.get("updatedReplicas", 0),
                "healthy": available >= desired and not failing,
                "failing_conditions": failing,
            }
        )
    if name and not result:
        raise ClusterUnavailable(f"deployment {name!r} not found in {namespace or 'any namespace'}")
    unhealthy = [d for d in result if not d["healthy"]]
    return {
        "count": len(result),
        "unhealthy": len(unhealthy),
        "deployments": unhealthy if not name else result,
    }


def cluster_operator_status(source: ClusterSource) -> dict[str, Any]:
    """OpenShift ClusterOperators that are degraded, unavailable or progressing."""
    if not source.serves("clusteroperators"):
        raise ClusterUnavailable(
            "this cluster has no ClusterOperators (config.openshift.io): it is not OpenShift"
        )
    operators = []
    for operator in source.list("clusteroperators"):
        conditions = _conditions(operator)

        def flag(kind: str, c: dict[str, dict[str, Any]] = conditions) -> bool:
            return c.get(kind, {}).get("status") == "True"

        if flag("Degraded") or not flag("Available") or flag("Progressing"):
            reasons = {
                t: f"{conditions[t].get('reason', '')}: {conditions[t].get('message', '')}".strip(
                    ": "
                )
                for t in ("Degraded", "Available", "Progressing")
                if t in conditions and (conditions[t].get("status") == "True") != (t == "Available")
            }
            operators.append(
                {
                    "name": operator["metadata"]["name"],
                    "available": flag("Available"),
                    "degraded": flag("Degraded"),
                    "progressing": flag("Progressing"),
                    "conditions": reasons,
                }
            )
    return {"count": len(source.list("clusteroperators")), "not_healthy": operators}


def resource_usage(
    source: ClusterSource, namespace: str | None = None, top: int = 10
) -> dict[str, Any]:
    """CPU and memory in use per node (of allocatable) and the busiest pods (metrics API)."""
    if not source.serves("nodemetrics"):
        raise ClusterUnavailable(
            "the metrics API (metrics.k8s.io) is not available on this cluster"
        )
    require_namespace(source, namespace)
    allocatable = {
        n["metadata"]["name"]: (n.get("status") or {}).get("allocatable") or {}
        for n in source.list("nodes")
    }
    nodes = []
    for metric in source.list("nodemetrics"):
        name = metric["metadata"]["name"]
        usage = metric.get("usage") or {}
        cpu, memory = cpu_cores(usage.get("cpu", "0")), mem_bytes(usage.get("memory", "0"))
        alloc = allocatable.get(name, {})
        nodes.append(
            {
                "node": name,
                "cpu_cores": round(cpu, 2),
                "cpu_percent": _percent(cpu, cpu_cores(alloc.get("cpu", "0"))),
                "memory_gib": round(memory / 2**30, 2),
                "memory_percent": _percent(memory, mem_bytes(alloc.get("memory", "0"))),
            }
        )
    pods: list[dict[str, Any]] = []
    for metric in source.list("podmetrics", namespace):
        containers = metric.get("containers") or []
        pods.append(
            {
                "pod": _name(metric),
                "cpu_cores": round(
                    sum(cpu_cores(c["usage"].get("cpu", "0")) for c in containers), 3
                ),
                "memory_mib": round(
                    sum(mem_bytes(c["usage"].get("memory", "0")) for c in containers) / 2**20, 1
                ),
            }
        )
    pods.sort(key=lambda p: p["memory_mib"], reverse=True)
    return {"nodes": sorted(nodes, key=lambda n: n["node"]), "top_pods_by_memory": pods[:top]}


def _percent(used: float, total: float) -> float | None:
    return round(100 * used / total, 1) if total else None


def cpu_cores(quantity: str) -> float:
    """A CPU quantity in cores: ``250m`` -> 0.25, ``1500000n`` -> 0.0015, ``2`` -> 2."""
    q = str(quantity)
    for suffix, scale in (("n", 1e-9), ("u", 1e-6), ("m", 1e-3)):
        if q.endswith(suffix):
            return float(q[:-1]) * scale
    return float(q)


def mem_bytes(quantity: str) -> float:
    """A memory quantity in bytes: ``512Mi``, ``2Gi``, ``1G``, ``1000Ki``, ``123``."""
    q = str(quantity)
    for suffix, scale in (
        ("Ki", 2**10),
        ("Mi", 2**20),
        ("Gi", 2**30),
        ("Ti", 2**40),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ):
        if q.endswith(suffix):
            return float(q[: -len(suffix)]) * scale
    return float(q)


# -- the summary -----------------------------------------------------------------------------


def cluster_health_summary(source: ClusterSource) -> dict[str, Any]:
    """One look at everything: nodes, pods, deployments, operators, warnings, and the problems."""
    nodes = node_status(source)
    pods = unhealthy_pods(source, limit=10)
    deployments = deployment_status(source)
    events = warning_events(source, limit=5)
    problems = list(nodes["problems"])
    problems += [
        f"pod {p['namespace']}/{p['name']} is {p['reason']} ({p['restarts']} restarts)"
        for p in pods["pods"]
    ]
    problems += [
        f"deployment {d['namespace']}/{d['name']} has {d['available']}/{d['desired']} replicas available"
        for d in deployments["deployments"]
    ]
    summary: dict[str, Any] = {
        "cluster": source.info(),
        "healthy": not problems,
        "nodes": {"total": len(nodes["nodes"]), "ready": sum(n["ready"] for n in nodes["nodes"])},
        "unhealthy_pods": pods["count"],
        "deployments": {"total": deployments["count"], "unhealthy": deployments["unhealthy"]},
        "warning_events": events["count"],
        "recent_warnings": events["events"],
    }
    if source.serves("clusteroperators"):
        operators = cluster_operator_status(source)["not_healthy"]
        summary["cluster_operators_not_healthy"] = [o["name"] for o in operators]
        problems += [
            f"cluster operator {o['name']} is degraded" for o in operators if o["degraded"]
        ]
        summary["healthy"] = not problems
    summary["problems"] = problems
    return summary
