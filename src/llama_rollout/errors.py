"""The project's exceptions. Each message says what is wrong and what to do about it.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``; pipeline steps let
the exception fail the task, so the same sentence lands in the step's log.
"""

from __future__ import annotations

import re

from llama_rollout.redaction import excerpt, redact

ERROR_LINE_LENGTH = 2000  # the longest error line: what a terminal shows, not a flood
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class RolloutError(Exception):
    """Base class: a failure the user can act on."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}: {hint}" if hint else message)


class ConfigurationError(RolloutError):
    """Bad input: a malformed URI, a missing setting, an invalid value."""

    exit_code = 2


class SourceError(RolloutError):
    """The model source cannot be resolved or read."""


class SourceNotFoundError(SourceError):
    """The repository, revision or folder does not exist (or is not visible with this token)."""


class IntegrityError(RolloutError):
    """Bytes read do not match the checksum or size the source declared."""


class StorageError(RolloutError):
    """The object store refused or failed a request."""


class IncompleteModelError(StorageError):
    """A model prefix without a manifest: an interrupted or foreign copy."""


class RegistryError(RolloutError):
    """The Model Registry is unreachable or refused a request."""


def invalid_settings(what: str, exc: Exception) -> ConfigurationError:
    """One ConfigurationError naming every field a pydantic ValidationError found wrong."""
    errors = exc.errors() if hasattr(exc, "errors") else []
    problems = "; ".join(
        (f"{'.'.join(str(p) for p in e['loc'])}: " if e.get("loc") else "")
        + e["msg"].removeprefix("Value error, ")
        for e in errors
    )
    return ConfigurationError(f"invalid {what}: {problems or exc}")


def quoted(value: object, limit: int = 60) -> str:
    """``value`` as an error quotes it: a short prefix, escaped (a user's 100 kB value or its
    control characters do not reach the terminal), with the full length when it is cut."""
    text = str(value)
    if len(text) <= limit:
        return repr(redact(text))
    # Redacted before the cut: a secret cut in two is no longer one the redaction knows.
    return f"{redact(text[: limit + 4096])[:limit]!r}... ({len(text)} characters)"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (of its first sub-exception for a group)."""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return first_line(exc.exceptions[0])
    return excerpt((str(exc).strip().splitlines() or [type(exc).__name__])[0], 200)


def error_line(message: str) -> str:
    """``message`` as one error line: redacted, control characters escaped (a value's escape
    sequences do not drive the terminal, its newlines do not make a second line), and cut."""
    line = _CONTROL.sub(lambda m: repr(m.group())[1:-1], redact(message))
    if len(line) > ERROR_LINE_LENGTH:
        return line[:ERROR_LINE_LENGTH] + f"... ({len(line) - ERROR_LINE_LENGTH} more characters)"
    return line
