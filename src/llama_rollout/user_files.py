"""Files read on a user's word (a dataset, a token file, a CA bundle), checked before reading.

A path a user gives may be anything: a named pipe (reading it waits for a writer for ever), a
character device (``/dev/zero`` never ends), a directory, a link loop, or a file of gigabytes.
Each is refused in one line that names the path and what it is, before a byte is read. The
file is opened without blocking and judged by ``fstat`` of the open descriptor, so what is
judged is what is read, and the read stops at the cap.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from llama_rollout.errors import ConfigurationError, quoted

TOKEN_FILE_LIMIT = 64 * 1024  # a token file's cap: a service-account JWT is a few kB
CA_BUNDLE_LIMIT = 8 * 1024 * 1024  # a cluster's whole trust bundle is a few hundred kB
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (reading it would wait for a writer)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def size_text(size: int) -> str:
    """``size`` bytes in the unit a person reads: ``512 bytes``, ``3.2 MB``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def read_user_file(path: str | Path, *, what: str, limit: int, hint: str) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    Args:
        path: the path the user gave.
        what: what the file is, for messages ("dataset", "token file").
        limit: the largest size accepted, in bytes.
        hint: what to give instead, for messages.

    Raises:
        ConfigurationError: the path is missing, unreadable, not a regular file, or too large.
    """
    shown = str(path)[:200]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        problem = {
            errno.ENOENT: "does not exist",
            errno.ELOOP: "is a link loop (or a chain of links too long to follow)",
            errno.EACCES: "cannot be read: permission denied",
            errno.ENAMETOOLONG: "is too long a path",
            errno.ENOTDIR: "has a file where a folder should be",
        }.get(exc.errno or 0, f"cannot be read: {exc.strerror}")
        raise ConfigurationError(f"{what} {shown} {problem}", hint=hint) from exc
    try:
        mode = os.fstat(fd).st_mode
        for test, kind in _KINDS:
            if test(mode):
                raise ConfigurationError(f"{what} {shown} is {kind}, not a file", hint=hint)
        content = b""
        while len(content) <= limit and (chunk := os.read(fd, limit + 1 - len(content))):
            content += chunk
    finally:
        os.close(fd)
    if len(content) > limit:
        raise ConfigurationError(
            f"{what} {shown} is larger than the {size_text(limit)} a {what} may be",
            hint=hint,
        )
    return content


def read_ca_bundle(path: str, *, what: str, hint: str, limit: int = CA_BUNDLE_LIMIT) -> bytes:
    """The bytes of the CA bundle at ``path``, read as :func:`read_user_file` reads (a named
    pipe or a device is refused, not handed to a TLS library where it would block or never
    end), and holding a PEM certificate.

    Raises:
        ConfigurationError: it is missing, no regular file, too large, or no PEM bundle.
    """
    content = read_user_file(path, what=what, limit=limit, hint=hint)
    if b"-----BEGIN CERTIFICATE-----" not in content:
        raise ConfigurationError(
            f"{what} {quoted(path, 200)} holds no PEM certificate ('-----BEGIN CERTIFICATE-----')",
            hint=hint,
        )
    return content
