"""Which certificates a pod trusts for the cluster's own HTTPS: the service CA, which signs the
certificates of Services that ask for one (``service.beta.openshift.io/serving-cert-secret-
name``: KServe's auth proxy in front of vLLM, kube-rbac-proxy in front of the Model Registry,
Lightspeed's app server), and which OpenShift puts beside every pod's service-account token."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

from llama_rollout.kube import identity

SERVICE_CA_NAME = "service-ca.crt"
# Where a pod's own copy is, for a config that names a file in the pod (Llama Stack's).
POD_SERVICE_CA = str(identity.SERVICE_ACCOUNT_DIR / SERVICE_CA_NAME)


def service_ca() -> str | None:
    """The service CA file of this pod, when it runs in a cluster that has one."""
    path = identity.SERVICE_ACCOUNT_DIR / SERVICE_CA_NAME
    return str(path) if path.exists() else None


def cluster_ca_bundle() -> str | None:
    """A CA file with the system CAs and the cluster's service CA, when there is one.

    For clients whose CA file replaces the system CAs rather than adding to them (the Model
    Registry client's ``custom_ca``, ``SSL_CERT_FILE``) and that also reach hosts outside
    the cluster, or the router's certificates: both go into one file.
    """
    own = service_ca()
    if own is None:
        return None
    system = ssl.get_default_verify_paths().cafile
    if system is None:
        import certifi

        system = certifi.where()
    with tempfile.NamedTemporaryFile(
        "w", prefix="llama-rollout-ca-", suffix=".pem", delete=False
    ) as bundle:
        for path in (system, own):
            bundle.write(Path(path).read_text() + "\n")
    return bundle.name
