"""No secret in an error or log line: what the project knows to be one, wherever it is echoed,
and what looks like one; nothing else is masked."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llama_rollout import redaction
from llama_rollout.redaction import MASK, RedactingFilter, redact

SECRETS = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/=",
    min_size=redaction.SHORTEST_SECRET,
    max_size=80,
)
# Where a server, a file or an exception may put a secret it was given.
ECHOES = [
    "401 Unauthorized: invalid token {s}",
    '{{"detail": "token {s} expired"}}',
    "cannot reach https://pipelines.example.com/?t={s}&x=1",
    "line 3 of the token file: {s}\nline 4",
    "{s}",
    "prefix{s}suffix",
    "'{s}' is not a valid value",
]


@pytest.fixture(autouse=True)
def forgetful(monkeypatch):
    """Each test starts with no remembered secret."""
    monkeypatch.setattr(redaction, "_known", set())


@settings(max_examples=200, deadline=None)
@given(secret=SECRETS, echo=st.sampled_from(ECHOES))
def test_a_remembered_secret_never_survives_wherever_it_is_echoed(secret, echo):
    redaction._known.clear()
    redaction.remember(f"  {secret}\n")  # as a token file holds it
    assert secret not in redact(echo.format(s=secret))


@settings(max_examples=100, deadline=None)
@given(secret=SECRETS)
def test_a_secret_in_a_log_record_s_arguments_or_traceback_is_masked(secret):
    redaction._known.clear()
    redaction.remember(secret)
    try:
        raise ValueError(f"server said {secret}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "got %s from %s",
                                   (secret, "s3"), exc_info=None)  # fmt: skip
        record.exc_text = f"Traceback ...\nValueError: server said {secret}"
    RedactingFilter().filter(record)
    assert secret not in record.getMessage() and secret not in record.exc_text
    assert MASK in record.getMessage()


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("http://alice:hunter22@registry:8080/api", "alice:hunter22"),
        ("https://tok3n-only@example.com/x", "tok3n-only"),
        ("Authorization: Bearer abcdef123456", "abcdef123456"),
        ("Authorization: Basic YWxpY2U6aHVudGVyMjI=", "YWxpY2U6aHVudGVyMjI="),
        ("jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtZSJ9.c2lnbmF0dXJl here", "eyJzdWIiOiJtZSJ9"),
        ("oc token sha256~AbCdEfGhIjKlMnOpQrStUv", "sha256~AbCdEfGhIjKlMnOpQrStUv"),
        ("HF token hf_abcdefghijklmnopqrstu", "hf_abcdefghijklmnopqrstu"),
        ("key AKIAABCDEFGHIJKLMNOP in use", "AKIAABCDEFGHIJKLMNOP"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----", "MIIEv"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEv cut short", "MIIEv"),
        ('{"apitoken": "s3cr3t-value"}', "s3cr3t-value"),
        ("password=opensesame&user=bob", "opensesame"),
        ("HF_TOKEN=whatever1 was set", "whatever1"),
        ("client_secret: tops3cret", "tops3cret"),
    ],
)
def test_what_looks_like_a_secret_is_masked_without_being_known(text, hidden):
    assert hidden not in redact(text) and MASK in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=2048 and lightspeed_max_tokens: 4096",
        "tokens_per_case 3356.33, prompt_tokens: 12",
        "KF_PIPELINES_SA_TOKEN_PATH=/var/run/secrets/token",
        "tokenizer=tokenizer.json",
        "s3://models/models/llama-3-2-3b-instruct/abc/",
        "https://lightspeed-app-server.openshift-lightspeed.svc:8443/v1/query",
        "the Bearer token was not found",
        "hf://HuggingFaceTB/SmolLM2-135M-Instruct@ef3abfe139cc",
    ],
)
def test_what_is_not_a_secret_is_left_as_it_is(text):
    assert redact(text) == text


def test_short_values_are_not_remembered_and_the_environment_s_secrets_are(monkeypatch):
    redaction.remember("us", "", None)
    assert redact("us-east-1") == "us-east-1"
    monkeypatch.setenv("HF_TOKEN", "plainvalue42")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI")
    redaction.remember_environment()
    assert redact("got plainvalue42 and wJalrXUtnFEMI") == f"got {MASK} and {MASK}"


def test_every_handler_of_the_root_logger_redacts_every_logger_s_records():
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        redaction.remember("sekrit-pipelines-token")
        redaction.install_log_redaction()
        redaction.install_log_redaction()  # twice is once
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        logging.getLogger("llama_rollout.anything").warning(
            "echoed %s by a server", "sekrit-pipelines-token"
        )
    finally:
        root.removeHandler(handler)
    assert "sekrit-pipelines-token" not in stream.getvalue()
    assert f"echoed {MASK} by a server" in stream.getvalue()


def test_the_cli_s_error_line_is_redacted(monkeypatch, capsys, tmp_path):
    from llama_rollout import cli

    token_file = tmp_path / "token"
    token_file.write_text("sekrit-pipelines-token\n")
    # A host with a password in it is refused, and the line never repeats the password.
    code = cli.main(["submit", "--host", "http://bob:pa55word@127.0.0.1:9",
                     "--namespace", "ai", "--token-file", str(token_file),
                     "--set", "registry_url=http://registry:8080"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "--host 'http://127.0.0.1:9' carries credentials" in err, err
    assert "pa55word" not in err and "sekrit-pipelines-token" not in err


def test_an_uncaught_exception_s_traceback_is_redacted():
    """A step's failure is printed by the interpreter, not by a log handler: still redacted."""
    import subprocess
    import sys

    program = (
        "from llama_rollout import redaction\n"
        "redaction.redact_logs()\n"
        "import threading\n"
        "t = threading.Thread(target=lambda: (_ for _ in ()).throw(RuntimeError('thread saw "
        "sekrit-pipelines-token')))\n"
        "t.start(); t.join()\n"
        "raise RuntimeError('the server said: token sekrit-pipelines-token is invalid')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin", "KFP_TOKEN": "sekrit-pipelines-token"},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("Traceback") == 2, result.stderr
    assert "sekrit-pipelines-token" not in result.stderr
    assert f"the server said: token {MASK} is invalid" in result.stderr


@settings(max_examples=200, deadline=None)
@given(secret=SECRETS, before=st.integers(0, 300), cut=st.integers(1, 400))
def test_a_secret_cut_by_an_excerpt_is_masked_before_the_cut(secret, before, cut):
    redaction.remember(secret)
    text = "answer: " + " " * before + secret + " and more"
    shown = redaction.excerpt(text, cut)
    assert len(shown) <= cut
    assert secret[: redaction.SHORTEST_SECRET] not in shown


@pytest.mark.parametrize(
    "text, hidden",
    [
        ("http://u:se@cr3t-pass@host:1/x", "cr3t-pass"),
        ("ftp://bob:pa55@w0rd@files.example.com", "pa55@w0rd"),
        ("HF_ENDPOINT u:s3cr3t-value@hub.example.com is not a URL", "s3cr3t-value"),
        ("registry at admin:hunter22@[::1]:8080", "hunter22"),
    ],
)
def test_userinfo_is_masked_up_to_the_authority_s_last_at_and_without_a_scheme(text, hidden):
    assert hidden not in redact(text) and "@" in redact(text)


def test_a_quoted_value_is_redacted_before_it_is_cut():
    from llama_rollout.errors import quoted

    url = "http://a-rather-long-user-name-for-the-registry:" + "s3cr3t-password-value" + "@h/x"
    assert "s3cr3t" not in quoted(url, 60)
