"""A run with a bad parameter is rejected by its first task, and S3, the registry and the
cluster are left exactly as they were: the compiled DAG, run by kfp.local, on the cluster path.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.cluster_steps import NAMESPACE, openshift_ai
from tests.holdings import bucket_listing, registry_listing

pytestmark = pytest.mark.integration
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def test_a_rejected_run_leaves_s3_the_registry_and_the_cluster_as_they_were(
    hub, make_model, s3_connection, registry_url, tmp_path, monkeypatch, capfd
):
    from kfp import local

    from pipelines.rollout import rollout_pipeline

    hub({"acme/tiny": make_model()})
    client = s3_connection.client()
    with openshift_ai(tmp_path, "test-models") as (fake, kubeconfig):
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        s3_before, registry_before = bucket_listing(client), registry_listing(registry_url)
        cluster_before = len(fake.requests)
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=str(tmp_path / "root"),
            raise_on_error=False,
        )
        rollout_pipeline(
            source_uri="hf://acme/tiny",
            data_connection="test-models",
            registry_url=registry_url,
            namespace=NAMESPACE,
            gpu_count=0,
            chat_template="../../etc/passwd",  # the one bad parameter
        )
        cluster_requests = fake.requests[cluster_before:]
        s3_after, registry_after = bucket_listing(client), registry_listing(registry_url)

    out = capfd.readouterr()
    log = re.sub(r"\x1b\[[0-9;]*m", "", out.out + out.err)  # kfp.local colours its log
    assert "invalid pipeline parameters: chat_template: '../../etc/passwd' is neither" in log
    assert "Inner task failed: 'check-parameters'" in log
    assert "'resolve-source'" not in log, "a task after the check ran"
    assert s3_after == s3_before
    assert registry_after == registry_before
    assert [r for r in cluster_requests if r.startswith(WRITES)] == []
