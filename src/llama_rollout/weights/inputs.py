"""What the weights stage takes from its environment, checked before anything uses it.

``AWS_S3_ENDPOINT`` and ``HF_ENDPOINT`` (an http(s) URL whose port can be one, with no
credentials in it), ``AWS_CA_BUNDLE`` (a PEM file, read the way every user file is: a named
pipe or a device is refused, not opened by the TLS library, where it would block or never end),
``AWS_DEFAULT_REGION`` (botocore's rule) and the data connection's name (its Secret's). Each
problem is one line that names the variable and what to give instead; a URL is shown without
its userinfo, whatever else is wrong with it.
"""

from __future__ import annotations

import re

from llama_rollout.errors import ConfigurationError, quoted
from llama_rollout.http_urls import url_problem
from llama_rollout.k8s_types import object_name_problem
from llama_rollout.user_files import read_user_file

CA_BUNDLE_LIMIT = 8 * 1024 * 1024  # a cluster's whole trust bundle is a few hundred kB
# botocore's own rule (a host label, not all digits), which it reports as "unexpected
# InvalidRegionError"; whole, where botocore's '$' lets a final newline through.
_REGION = re.compile(r"(?![0-9]+\Z)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)")


def check_endpoint(name: str, url: str) -> str:
    """``url`` without a trailing '/', when it can be an endpoint's base URL.

    Raises:
        ConfigurationError: it cannot; the message names ``name`` and what to give.
    """
    if problem := endpoint_problem(name, url):
        raise ConfigurationError(problem)
    return url.rstrip("/")


def endpoint_problem(name: str, url: str) -> str | None:
    """Why ``url`` (the value of the variable ``name``) cannot be an endpoint's base URL."""
    return url_problem(name, url, credentials="the keys go in their own variables")


def check_region(region: str) -> str:
    """``region`` when botocore takes it as a region's name, else ValueError."""
    if not _REGION.fullmatch(region):
        raise ValueError(
            f"AWS_DEFAULT_REGION {quoted(region)} is not a region name: give letters, digits "
            "and '-', e.g. us-east-1 (any name your S3 endpoint accepts, often us-east-1)"
        )
    return region


def check_connection_name(name: str) -> str:
    """``name`` when it can name the data connection's Secret (a DNS-1123 subdomain), else
    ValueError: the registry records it as ``storage_key`` and KServe reads that Secret."""
    if problem := object_name_problem(name):
        raise ValueError(
            f"the data connection's name (DATA_CONNECTION_NAME): {problem}: give its Secret's "
            "name, e.g. llama-rollout-models"
        )
    return name


def check_ca_bundle(path: str) -> str:
    """``path`` when it is a readable regular file that holds a PEM certificate.

    Raises:
        ConfigurationError: it is missing, a named pipe, a device, a folder, too large, or no
            PEM bundle.
    """
    hint = "set AWS_CA_BUNDLE to the PEM file of the CA that signed the S3 endpoint's certificate"
    content = read_user_file(path, what="AWS_CA_BUNDLE", limit=CA_BUNDLE_LIMIT, hint=hint)
    if b"-----BEGIN CERTIFICATE-----" not in content:
        raise ConfigurationError(
            f"AWS_CA_BUNDLE {quoted(path, 200)} holds no PEM certificate "
            "('-----BEGIN CERTIFICATE-----')",
            hint=hint,
        )
    return path
