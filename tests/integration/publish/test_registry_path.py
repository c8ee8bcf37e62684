"""The publish step's calls to the Model Registry go as a pipeline pod's do on a cluster: to the
router, and from the router to the registry's pod (conftest.py's Edges), so the registries'
namespace's NetworkPolicy decides whether the step can record its publication."""

from __future__ import annotations

import pytest

from llama_rollout.errors import RegistryError
from llama_rollout.publish.record import record_on_version
from llama_rollout.registry.publications import published_versions
from tests.integration.publish.conftest import REVISION_A, REVISION_B, request_for
from tests.operator_policies import routers_only_policy

pytestmark = pytest.mark.integration
MODEL = "llama-3-2-3b-instruct"


def test_the_step_records_through_the_route_only_while_the_registries_admit_the_routers(
    cluster, versions
):
    fake = cluster[0]
    step_url, connected = versions
    request = request_for(REVISION_A, step_url, "http://unused")
    record_on_version(request, request.publication(), serving_name=request.serving_name)
    assert [v.name for v in published_versions(connected, MODEL)] == [REVISION_A[:12]]
    # Closed to the routers too: the router cannot reach the registry, and the step says so.
    closed = routers_only_policy()
    closed["spec"]["ingress"] = []
    fake.put("networkpolicies", closed)
    request = request_for(REVISION_B, step_url, "http://unused")
    with pytest.raises(RegistryError, match="the Model Registry is unreachable"):
        record_on_version(request, request.publication(), serving_name=request.serving_name)
    assert [v.name for v in published_versions(connected, MODEL)] == [REVISION_A[:12]]
