"""Who a step is: the user name the API server's SelfSubjectReview gives its token."""

from __future__ import annotations

import pytest
from kubernetes import client

from llama_rollout.kube import Kube, KubeError
from llama_rollout.kube.identity import who_am_i
from tests.fake_kube import ADMIN, FakeKube, running

pytestmark = pytest.mark.integration
RUNNER = "system:serviceaccount:pipelines:pipeline-runner-dspa"


def kube_at(url: str, token: str | None = None) -> Kube:
    keys = {"authorization": f"Bearer {token}"} if token else {}
    return Kube(client.ApiClient(client.Configuration(host=url, api_key=keys)))


def test_a_step_is_the_service_account_its_token_names():
    with running(FakeKube(rbac=True, tokens={"runner": RUNNER})) as url:
        assert who_am_i(kube_at(url, "runner")) == RUNNER
        with pytest.raises(KubeError, match="Unauthorized"):
            who_am_i(kube_at(url, "not-a-token"))


def test_without_rbac_the_fake_cluster_answers_its_admin(cluster):
    assert who_am_i(cluster) == ADMIN
