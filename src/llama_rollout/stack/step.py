"""The Llama Stack stage's step, on either target: Llama Stack wired to the served model and to
the cluster-health MCP server, the chain proved.

``serve`` takes the step's parameters as a :class:`StackRequest` and the target: OpenShift AI
gets the operator's LlamaStackDistribution or the fallback Deployment (``openshift``), the
embedded stack a ``llama stack run`` process (``embedded``). Both end with the same chain
checks (``health``).
"""

from __future__ import annotations

from collections.abc import Callable

from llama_rollout.stack import embedded, openshift
from llama_rollout.stack.request import StackReport, StackRequest
from llama_rollout.targets import Target

SERVE: dict[Target, Callable[[StackRequest], StackReport]] = {
    Target.OPENSHIFT: openshift.serve,
    Target.LOCAL: embedded.serve,
}


def serve(target: Target, request: StackRequest) -> StackReport:
    """Stand Llama Stack up on ``target`` and prove the chain to vLLM and MCP."""
    return SERVE[target](request)
