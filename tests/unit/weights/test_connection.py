"""The data connection's keys, checked where they are read: a bad one is one line that names
the variable and what to give, before botocore sees it."""

from __future__ import annotations

import os
import threading

import pytest

from llama_rollout.errors import ConfigurationError
from llama_rollout.weights.connection import DataConnection

ENV = {
    "AWS_S3_ENDPOINT": "https://s3.example.com",
    "AWS_S3_BUCKET": "models",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-example",
}
PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def from_env(**changes: str) -> DataConnection:
    return DataConnection.from_env({**ENV, **changes})


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("http://127.0.0.1:abc", "has port 'abc', which is no port: give a number from 1 to 65535"),
        ("http://h:99999", "has port '99999', which is no port"),
        ("http://h:0", "has port '0', which is no port"),
        ("http://[::1", r"is not an http\(s\) URL \(an IPv6 address without its closing '\]'\)"),
        ("http://s3 .example.com", "is not an http\\(s\\) URL .*spaces"),
        ("localhost:9000", r"'localhost:9000' is not an http\(s\) URL"),
        ("http://u:s3cret-pass@127.0.0.1:1", r"'http://127.0.0.1:1' carries credentials"),
        ("ftp://u:s3c@ret-pass@h", r"'ftp://h' carries credentials"),
    ],
)
def test_an_endpoint_that_cannot_be_one_is_invalid_input(endpoint, problem):
    with pytest.raises(ConfigurationError, match=rf"AWS_S3_ENDPOINT .*{problem}") as caught:
        from_env(AWS_S3_ENDPOINT=endpoint)
    assert caught.value.exit_code == 2
    assert "s3cret" not in str(caught.value) and "ret-pass" not in str(caught.value)
    assert "did not answer" not in str(caught.value)


@pytest.mark.parametrize(
    "region", ["us east\n1", "us-east-1\n", "us-east-1;", "-x", "123", "r" * 64]
)
def test_a_region_botocore_would_refuse_is_invalid_input(region):
    with pytest.raises(ConfigurationError, match=r"AWS_DEFAULT_REGION .* is not a region name"):
        from_env(AWS_DEFAULT_REGION=region)
    assert from_env(AWS_DEFAULT_REGION="eu-west-3").region == "eu-west-3"


@pytest.mark.parametrize("name", ["Bad Name", "UPPER", "a_b", "x" * 254, "-a"])
def test_a_data_connection_name_that_cannot_name_its_secret_is_refused(name):
    with pytest.raises(ConfigurationError, match=r"DATA_CONNECTION_NAME.*DNS-1123 subdomain"):
        from_env(DATA_CONNECTION_NAME=name)
    with pytest.raises(ConfigurationError, match=r"DNS-1123 subdomain"):
        DataConnection.from_env(ENV, name=name)
    assert from_env(DATA_CONNECTION_NAME="team.models-1").name == "team.models-1"


def test_a_ca_bundle_that_is_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    outcome: list[BaseException | DataConnection] = []

    def read() -> None:
        try:
            outcome.append(from_env(AWS_CA_BUNDLE=str(fifo)))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(10)
    if not outcome:  # it waits for a writer: let it go, and fail
        with open(fifo, "wb"):
            pass
        pytest.fail("AWS_CA_BUNDLE, a named pipe, was opened and waited on")
    assert isinstance(outcome[0], ConfigurationError), outcome
    assert "is a named pipe" in str(outcome[0]) and "AWS_CA_BUNDLE" in str(outcome[0])


def test_a_ca_bundle_that_is_no_pem_file_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match=r"AWS_CA_BUNDLE .* is a directory"):
        from_env(AWS_CA_BUNDLE=str(tmp_path))
    with pytest.raises(ConfigurationError, match=r"AWS_CA_BUNDLE .* is a character device"):
        from_env(AWS_CA_BUNDLE="/dev/zero")
    with pytest.raises(ConfigurationError, match=r"AWS_CA_BUNDLE .* does not exist"):
        from_env(AWS_CA_BUNDLE=str(tmp_path / "absent.pem"))
    (tmp_path / "empty.pem").write_bytes(b"")
    with pytest.raises(ConfigurationError, match=r"holds no PEM certificate"):
        from_env(AWS_CA_BUNDLE=str(tmp_path / "empty.pem"))
    (tmp_path / "ca.pem").write_bytes(PEM)
    assert from_env(AWS_CA_BUNDLE=str(tmp_path / "ca.pem")).ca_bundle == str(tmp_path / "ca.pem")
