"""The serving stage's step, on either target: vLLM serving the registered model version.

``serve`` takes the step's parameters as a :class:`ServingRequest` and the target; OpenShift
AI gets a KServe InferenceService (``openshift``), the embedded stack a vLLM process fed from
its S3 (``embedded``). Both end with the tool-calling preflight and the deployment's record in
the Model Registry.
"""

from __future__ import annotations

from collections.abc import Callable

from llama_rollout.serving import embedded, openshift
from llama_rollout.serving.request import ServedModel, ServingRequest
from llama_rollout.targets import Target

SERVE: dict[Target, Callable[[ServingRequest], ServedModel]] = {
    Target.OPENSHIFT: openshift.serve,
    Target.LOCAL: embedded.serve,
}


def serve(target: Target, request: ServingRequest) -> ServedModel:
    """Serve the model version on ``target``; its endpoint once it answers tool calls."""
    return SERVE[target](request)
