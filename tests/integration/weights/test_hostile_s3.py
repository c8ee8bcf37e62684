"""The weights commands against an S3 that trickles, and data connections that cannot work.

Every S3 request but a transfer's bytes is bounded in all: ``verify``, ``prune`` and
``register`` against an S3 that sends a byte every second (of its headers, or of its body) end
within ``bounds.S3_PROBE`` in one line that names the endpoint and the wait. A data connection
whose keys cannot work (a port that is none, a CA bundle that is a named pipe, a region or a
Secret name botocore or Kubernetes would refuse), a malformed model URI and the bucket's root
as a base prefix are bad input: exit 2, one line, nothing written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest

from llama_rollout import bounds
from tests.servers import TricklingServer

pytestmark = pytest.mark.integration
# Starting a Python process and importing the project, on a loaded 2-core machine.
SLACK = 15.0


def cli(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", "llama_rollout.cli", *args],
            check=False, capture_output=True, text=True, env=env, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{args[0]}: still running after {timeout:.0f}s") from None


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def plain_env(**keys: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HF_", "DATA_"))}
    env.update(
        AWS_S3_BUCKET="models", AWS_ACCESS_KEY_ID="AKIDTRICKLE",
        AWS_SECRET_ACCESS_KEY="trickle-secret-key", **keys,
    )  # fmt: skip
    return env


def test_verify_prune_and_register_end_within_their_bound_against_a_trickling_s3() -> None:
    uri = "s3://models/models/m/" + "0" * 40 + "/"
    commands = {
        "verify": ["verify", "--model-uri", uri],
        "prune": ["prune", "--older-than", "1d", "--dry-run"],
        "register": ["register", "--model-uri", uri, "--registry-url", "http://127.0.0.1:9"],
    }
    bound = bounds.S3_PROBE
    with ExitStack() as stack:
        servers = {
            "trickled headers": stack.enter_context(TricklingServer()),
            "trickled body": stack.enter_context(TricklingServer(body=True)),
        }
        cases = [(kind, server.url, name) for kind, server in servers.items() for name in commands]
        results: dict[int, tuple[float, str | BaseException]] = {}

        def timed(index: int, url: str, name: str) -> None:
            started = time.monotonic()
            try:
                env = plain_env(AWS_S3_ENDPOINT=url)
                line: str | BaseException = one_error(cli(commands[name], env, bound.total + SLACK))
            except BaseException as exc:  # reported with the rest
                line = exc
            results[index] = (time.monotonic() - started, line)

        threads = [
            threading.Thread(target=timed, args=(index, url, name), daemon=True)
            for index, (_, url, name) in enumerate(cases)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(bound.total + SLACK + 10)

    problems = []
    for index, (kind, url, name) in enumerate(cases):
        if index not in results:
            problems.append(f"{kind}: {name}: still waiting")
            continue
        waited, line = results[index]
        if isinstance(line, BaseException):
            problems.append(f"{kind}: {name}: {type(line).__name__}: {line}")
        elif not (bound.read - 1 <= waited <= bound.total + SLACK) or (
            f"S3 at {url} did not answer within {bound.total:.0f}s" not in line
        ):
            problems.append(f"{kind}: {name}: after {waited:.0f}s: {line}")
    assert not problems, "\n".join(problems)


def test_the_clients_of_short_requests_are_bounded_in_all() -> None:
    """``DataConnection.client()`` bounds each attempt in all unless told it carries a
    transfer's bytes: a listing against a trickle ends at connect + read timeouts."""
    from botocore.exceptions import ReadTimeoutError

    from llama_rollout.weights.connection import DataConnection

    with TricklingServer(body=True) as server:
        connection = DataConnection.from_env(plain_env(AWS_S3_ENDPOINT=server.url))
        client = connection.client(attempts=1, read_timeout=3)
        outcome: list[BaseException | None] = []

        def listing() -> None:
            try:
                client.list_objects_v2(Bucket="models")
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        started = time.monotonic()
        thread = threading.Thread(target=listing, daemon=True)
        thread.start()
        thread.join(bounds.CONNECT + 3 + SLACK)
        assert outcome, f"still listing after {time.monotonic() - started:.0f}s"
        assert isinstance(outcome[0], ReadTimeoutError), outcome


@pytest.fixture
def pipe(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    os.mkfifo(path)
    return str(path)


BAD_CONNECTIONS: dict[str, tuple[dict[str, str], str]] = {
    "port-not-a-number": (
        {"AWS_S3_ENDPOINT": "http://127.0.0.1:abc"},
        r"AWS_S3_ENDPOINT 'http://127.0.0.1:abc' has port 'abc', which is no port",
    ),
    "port-out-of-range": (
        {"AWS_S3_ENDPOINT": "http://127.0.0.1:70000"},
        r"has port '70000', which is no port: give a number from 1 to 65535",
    ),
    "endpoint-with-credentials": (
        {"AWS_S3_ENDPOINT": "http://u:pass@w0rd-secret@127.0.0.1:1"},
        r"AWS_S3_ENDPOINT 'http://127.0.0.1:1' carries credentials",
    ),
    "region": (
        {"AWS_DEFAULT_REGION": "us east\n1"},
        r"AWS_DEFAULT_REGION 'us east\\n1' is not a region name",
    ),
    "connection-name": (
        {"DATA_CONNECTION_NAME": "Bad Name"},
        r"'Bad Name' is not a DNS-1123 subdomain.*Secret's name",
    ),
    "ca-bundle-pipe": (
        {"AWS_S3_ENDPOINT": "https://127.0.0.1:1", "AWS_CA_BUNDLE": "PIPE"},
        r"AWS_CA_BUNDLE .*ca.pem is a named pipe",
    ),
}


@pytest.mark.parametrize(
    ("case", "command"),
    [
        *((case, "mirror") for case in BAD_CONNECTIONS),
        ("ca-bundle-pipe", "verify"),
        ("ca-bundle-pipe", "prune"),
        ("port-not-a-number", "verify"),
        ("region", "verify"),
        ("connection-name", "register"),
    ],
)
def test_a_data_connection_that_cannot_work_is_bad_input_and_nothing_is_written(
    case: str, command: str, cli_env: dict[str, str], s3_env: dict[str, str],
    make_model: Callable[..., Path], pipe: str,
) -> None:  # fmt: skip
    from llama_rollout.weights.connection import DataConnection

    keys, expected = BAD_CONNECTIONS[case]
    env = {**cli_env, **{k: v.replace("PIPE", pipe) for k, v in keys.items()}}
    model_name = f"bad-{case}-{command}"[:45].rstrip("-")
    uri = f"s3://models/models/{model_name}/{'0' * 40}/"
    args = {
        "mirror": ["mirror", "--source", f"file://{make_model()}", "--model-name", model_name],
        "verify": ["verify", "--model-uri", uri],
        "register": ["register", "--model-uri", uri, "--registry-url", "http://127.0.0.1:9"],
        "prune": ["prune", "--older-than", "1s"],
    }[command]
    result = cli(args, env, 60)
    line = one_error(result)
    assert result.returncode == 2, line
    assert re.search(expected, line), line
    assert "w0rd-secret" not in result.stderr + result.stdout
    listed = (
        DataConnection.from_env(s3_env)
        .client()
        .list_objects_v2(Bucket="models", Prefix=f"models/{model_name}/")
    )
    assert listed.get("KeyCount", 0) == 0, "nothing is written"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["verify", "--model-uri", "s3://models/models//m/"], r"an empty segment \('//'\)"),
        (["verify", "--model-uri", "s3:///x/"], r"invalid S3 model URI 's3:///x/': no bucket"),
        (["register", "--model-uri", "s3://models/m/./r/", "--registry-url", "http://h:9"],
         r"invalid S3 model URI .*segment '\.'"),
        (["prune", "--older-than", "1s", "--prefix", ""], r"'' is the bucket's root"),
        (["prune", "--older-than", "1s", "--prefix", "/"], r"'/' is the bucket's root"),
        (["mirror", "--source", "MODEL", "--prefix", "/"], r"'/' is the bucket's root"),
    ],
)  # fmt: skip
def test_a_malformed_model_uri_or_the_bucket_s_root_is_bad_input(
    args: list[str], expected: str, cli_env: dict[str, str], make_model: Callable[..., Path]
) -> None:
    if "MODEL" in args:
        args = [
            f"file://{make_model(shards=1, shard_bytes=64)}" if a == "MODEL" else a for a in args
        ]
    result = cli(args, cli_env, 60)
    line = one_error(result)
    assert result.returncode == 2, line
    assert re.search(expected, line), line
    assert "did not finish" not in line


def test_prune_with_the_default_prefix_leaves_a_model_mirrored_under_a_deeper_one(
    cli_env: dict[str, str], make_model: Callable[..., Path], s3_env: dict[str, str]
) -> None:
    from llama_rollout.weights.connection import DataConnection

    folder = make_model(shards=1, shard_bytes=1024, seed=51)
    mirrored = cli(
        ["mirror", "--source", f"file://{folder}", "--model-name", "team-model",
         "--prefix", "models/team-a"],
        cli_env, 120,
    )  # fmt: skip
    assert mirrored.returncode == 0, mirrored.stderr
    model_uri = json.loads(mirrored.stdout)["model_uri"]
    time.sleep(2)
    # A dry run: the shared bucket holds other tests' mirrors, which prune alike.
    pruned = cli(["prune", "--older-than", "1s", "--dry-run"], cli_env, 120)
    assert pruned.returncode == 0, pruned.stderr
    assert "models/team-a/" not in pruned.stdout, pruned.stdout
    manifest = model_uri.removeprefix("s3://models/") + "llama-rollout-manifest.json"
    DataConnection.from_env(s3_env).client().head_object(Bucket="models", Key=manifest)
    verified = cli(["verify", "--model-uri", model_uri], cli_env, 120)
    assert verified.returncode == 0, verified.stderr
