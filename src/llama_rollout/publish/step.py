"""The publish step, on either target: the evaluated version becomes Lightspeed's provider.

It runs only when the gate passed, and first checks Lightspeed's prompt budget (``budget``). On
OpenShift, under the publish Lease: the credentials Secret, the merged OLSConfig, the
operator's rollout and a question to Lightspeed through the new provider (``lightspeed``),
restored on failure; then the publication recorded on the ModelVersion, and the versions it
replaced retired (``openshift``). On the embedded stack the same merge goes into the stack's
OLSConfig file (``embedded``). Both write the patch and the resulting OLSConfig as files for
the step's artifacts (``record``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from llama_rollout.mcp_server.access import client_token
from llama_rollout.publish import budget, embedded, openshift
from llama_rollout.publish.request import Outcome, PublishRequest
from llama_rollout.targets import Target

PUBLISH: dict[Target, Callable[[PublishRequest, Path], Outcome]] = {
    Target.OPENSHIFT: openshift.publish,
    Target.LOCAL: embedded.publish,
}


def publish(target: Target, request: PublishRequest, output_dir: Path) -> Outcome:
    """Publish the version on ``target``; the outcome and its files."""
    publication = request.publication()
    budget.check_before_publishing(
        target,
        publication,
        model_uri=request.model_uri,
        data_connection=request.data_connection,
        mcp_token=client_token(request.namespace, request.mcp_token_secret)
        if publication.mcp_server
        else None,
    )
    return PUBLISH[target](request, output_dir)
