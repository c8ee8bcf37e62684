"""The CAs a step trusts for the cluster's own HTTPS."""

from __future__ import annotations

from pathlib import Path

from llama_rollout.kube import identity, trust


def test_the_ca_bundle_holds_the_system_cas_and_the_service_ca(tmp_path, monkeypatch):
    monkeypatch.setattr(identity, "SERVICE_ACCOUNT_DIR", tmp_path)
    assert trust.cluster_ca_bundle() is None
    service_ca = "-----BEGIN CERTIFICATE-----\nSERVICE\n-----END CERTIFICATE-----"
    (tmp_path / "service-ca.crt").write_text(service_ca)
    bundle = Path(trust.cluster_ca_bundle()).read_text()
    assert service_ca in bundle and bundle.count("BEGIN CERTIFICATE") > 10


def test_the_service_ca_is_the_pod_s_own_file_when_there_is_one(tmp_path, monkeypatch):
    monkeypatch.setattr(identity, "SERVICE_ACCOUNT_DIR", tmp_path)
    assert trust.service_ca() is None
    (tmp_path / "service-ca.crt").write_text("-----BEGIN CERTIFICATE-----")
    assert trust.service_ca() == str(tmp_path / "service-ca.crt")
