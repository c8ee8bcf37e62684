"""lightspeed_create: OLSConfig cluster created where there is none, only with the rights of
manifests/lightspeed-creator, which are asked for before anything is written."""

from __future__ import annotations

import pytest
import yaml

from llama_rollout.publish.lightspeed import PublishError
from llama_rollout.publish.openshift import publish as publish_on_openshift
from tests.integration.publish.conftest import LIGHTSPEED_NS, REVISION_A, ROOT, install, request_for

pytestmark = pytest.mark.integration
CREATOR = ROOT / "manifests" / "lightspeed-creator" / "clusterrole.yaml"
OLSCONFIG = ("olsconfigs", "", "cluster", "ols.openshift.io")


def test_creating_olsconfig_needs_the_creator_s_rights_asked_before_any_write(
    cluster, versions, tmp_path
):
    fake, kube, _, url, operator = cluster
    operator.console_plugin_ready = True
    del fake.objects[OLSCONFIG]  # Lightspeed's operator installed, not set up yet
    request = request_for(REVISION_A, versions[0], url, create_missing=True)
    with pytest.raises(PublishError, match="may not create or delete OLSConfig cluster") as failed:
        publish_on_openshift(request, tmp_path / "refused", kube=kube, token="runner")
    assert "oc apply -k manifests/lightspeed-creator" in str(failed.value)
    assert fake.get("olsconfigs", "cluster") is None
    assert fake.get("secrets", "llamastack-credentials", LIGHTSPEED_NS) is None, "nothing written"

    for obj in yaml.safe_load_all(CREATOR.read_text()):
        install(fake, obj)
    outcome = publish_on_openshift(request, tmp_path / "created", kube=kube, token="runner")
    assert outcome.answer
    spec = fake.get("olsconfigs", "cluster")["spec"]
    assert [p["name"] for p in spec["llm"]["providers"]] == ["llamastack"]
    assert spec["ols"]["defaultProvider"] == "llamastack"
