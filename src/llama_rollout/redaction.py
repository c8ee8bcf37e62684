"""Secrets kept out of every error line and log line, whatever a server or a file echoes.

A secret is what the project knows to be one, remembered when it is read (a data connection's
keys, ``HF_TOKEN``, a pipelines or service-account token, a file given as a token, a URL's
userinfo), and what looks like one wherever it appears: a bearer token, a JWT, a PEM block,
an OpenShift ``sha256~`` token, a Hugging Face ``hf_`` token, the password of a URL. Each is
replaced by ``[REDACTED]``; a known one wherever it occurs, inside a longer string too.

``redact`` is the one function every error path uses: the CLI's ``error:`` line, and, through
``RedactingFilter`` on the root logger's handlers, every log line of the CLI and of the steps.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import traceback
from collections.abc import Iterable
from types import TracebackType

MASK = "[REDACTED]"
# Values shorter than this are not remembered: masking "1" or "us" everywhere would garble
# every line and hide nothing a reader could use.
SHORTEST_SECRET = 6
# The environment variables whose values are secrets wherever the project runs.
SECRET_VARIABLES = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HUB_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SESSION_TOKEN",
    "KFP_TOKEN",
    "KF_PIPELINES_TOKEN",
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
)

_LOOKS_SECRET = [
    # A URL's userinfo: keep the user's scheme and host, drop who and what.
    # (up to the authority's last '@': a password may hold one).
    (re.compile(r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#\s]*@"), r"\g<keep>" + MASK + "@"),
    # The same without a scheme (user:password@host), as a careless value gives it.
    (re.compile(r"\b[\w.%~+-]+:[^\s/?#]*@(?=[\w\[])"), MASK + "@"),
    (re.compile(r"(?P<keep>\b[Bb]earer\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\g<keep>" + MASK),
    (re.compile(r"(?P<keep>\b[Bb]asic\s+)[A-Za-z0-9+/=]{6,}"), r"\g<keep>" + MASK),
    (re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)", re.S), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    (re.compile(r"\bsha256~[A-Za-z0-9_-]{10,}"), MASK),
    (re.compile(r"\bhf_[A-Za-z0-9]{16,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), MASK),
    # key=value and "key": "value" where the key names a secret.
    # (the key ends with the word: max_tokens=, token_path= and tokenizer= are not secrets;
    # a shell reference, TOKEN=$(oc whoami -t), is an instruction, not a value; a short
    # word without a digit, "secret: Extra inputs...", is a message about a field, not a value).
    (
        re.compile(
            r"(?P<keep>(?i:\b[\w-]*(?:token|secret|password|passwd|api[_-]?key|access[_-]?key))"
            r"[\"']?\s*[:=]\s*[\"']?)(?!\$)(?=[^\s\"',;&}]*\d|[^\s\"',;&}]{8})[^\s\"',;&}]{4,}"
        ),
        r"\g<keep>" + MASK,
    ),
]

_known: set[str] = set()
_lock = threading.Lock()


def remember(*values: str | None) -> None:
    """Treat each value as a secret from now on, in this process (empty and short ones are
    ignored: see ``SHORTEST_SECRET``)."""
    with _lock:
        for value in values:
            for part in _forms(value or ""):
                if len(part) >= SHORTEST_SECRET:
                    _known.add(part)


def remember_environment(names: Iterable[str] = SECRET_VARIABLES) -> None:
    """Remember the values of the secret environment variables that are set."""
    remember(*(os.environ.get(name) for name in names))


def redact(text: str) -> str:
    """``text`` with every known and every look-alike secret replaced by ``MASK``."""
    if not text:
        return text
    with _lock:
        known = sorted(_known, key=len, reverse=True)  # a longer secret before its parts
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _LOOKS_SECRET:
        text = pattern.sub(replacement, text)
    return text


def _forms(value: str) -> list[str]:
    """A secret as it may be echoed: whole, stripped, and each of its lines (a file's)."""
    stripped = value.strip()
    return [value, stripped, *(line.strip() for line in stripped.splitlines())]


class RedactingFilter(logging.Filter):
    """Redacts each record's final message (arguments merged in) and its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_redaction() -> None:
    """Put ``RedactingFilter`` on every handler of the root logger (a filter on a handler sees
    the records of every logger that propagates to it)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def configure_step_logging(*, quiet: tuple[str, ...] = ()) -> None:
    """A pipeline step's logging: INFO lines to stderr (WARNING for the ``quiet`` loggers),
    every one redacted, with the secret environment variables the step was given remembered."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    redact_logs()


def excerpt(text: object, limit: int) -> str:
    """The first ``limit`` characters of ``text`` (a server's answer, a value), redacted before
    the cut: a secret cut in two is no longer one the patterns or the memory know."""
    return redact(str(text)[: limit + 4096])[:limit]


def redact_logs() -> None:
    """From now on, no log line of this process shows a secret: the secret environment
    variables are remembered, every root handler redacts, and so does the traceback of an
    exception no one caught (a step's failure, which KFP leaves to the interpreter to print)."""
    remember_environment()
    install_log_redaction()
    sys.excepthook = _print_redacted_traceback
    threading.excepthook = lambda args: _print_redacted_traceback(
        args.exc_type, args.exc_value, args.exc_traceback
    )


def _print_redacted_traceback(
    kind: type[BaseException], value: BaseException | None, trace: TracebackType | None
) -> None:
    sys.stderr.write(redact("".join(traceback.format_exception(kind, value, trace))))
    sys.stderr.flush()
