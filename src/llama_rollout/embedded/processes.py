"""Detached server processes: start, find again, check health, stop only what we started.

Each process is recorded by pid together with its start time and command line, so a later
``down`` never signals a recycled pid that now belongs to something else.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from llama_rollout.errors import RolloutError
from llama_rollout.redaction import excerpt

logger = logging.getLogger(__name__)

# What a server takes from this process's environment: enough to run (and to find a GPU),
# nothing else. This process holds the data connection's secret and the hub token; vLLM and
# Llama Stack must not.
INHERITED = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "LD_LIBRARY_PATH",
)


def server_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a server starts with: the inherited basics and its own ``env``."""
    return {k: os.environ[k] for k in INHERITED if k in os.environ} | dict(env or {})


@dataclass(frozen=True)
class ProcessRecord:
    """A process ``up`` started, as written in the stack's state file."""

    name: str
    pid: int
    argv: list[str]
    log: str
    url: str
    started: float
    health_url: str = ""
    labels: dict[str, str] | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def free_port(preferred: int | None = None) -> int:
    """``preferred`` if nothing listens there, else a free port chosen by the kernel."""
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RolloutError("no free TCP port on 127.0.0.1")


def port_of(url: str) -> int | None:
    """The port of ``http://host:port``, or None."""
    tail = url.rstrip("/").rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def start(
    name: str,
    argv: list[str],
    *,
    log: Path,
    url: str,
    env: Mapping[str, str] | None = None,
    health_url: str = "",
    labels: dict[str, str] | None = None,
) -> ProcessRecord:
    """Start ``argv`` detached (own session, output to ``log``) and return its record.

    The process gets :func:`server_environment` with ``env``, not this process's environment.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=server_environment(env),
        )
    logger.info("started %s (pid %d), log %s", name, process.pid, log)
    started = _start_time(process.pid) or time.time()
    return ProcessRecord(name, process.pid, argv, str(log), url, started, health_url, labels)


def is_running(record: ProcessRecord) -> bool:
    """True when the recorded process is alive and is still the one we started."""
    started = _start_time(record.pid)
    return started is not None and abs(started - record.started) < 2.0


def stop(record: ProcessRecord, *, timeout: float = 15.0) -> bool:
    """SIGTERM the process group, SIGKILL after ``timeout``. False if it was not running."""
    if not is_running(record):
        return False
    _signal_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(record):
            return True
        time.sleep(0.1)
    _signal_group(record.pid, signal.SIGKILL)
    return True


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    record: ProcessRecord | None = None,
    report_every: float = 15.0,
) -> None:
    """Poll ``check`` until it holds; fail early if the process died, with its last log line.
    A long start (vLLM loading a model on a CPU) is reported every ``report_every`` seconds,
    with the server's last log line."""
    started = time.monotonic()
    deadline, reported = started + timeout, started
    while time.monotonic() < deadline:
        if check():
            return
        if record is not None and not is_running(record):
            raise RolloutError(
                f"{what} exited during start-up: {last_log_line(Path(record.log))}",
                hint=f"see {record.log}",
            )
        if record is not None and time.monotonic() - reported >= report_every:
            reported = time.monotonic()
            logger.info(
                "still waiting for %s (%.0f s of %.0f s): %s",
                what,
                reported - started,
                timeout,
                last_log_line(Path(record.log)),
            )
        time.sleep(0.2)
    raise RolloutError(f"{what} did not become ready in {timeout:.0f}s", hint="see its log file")


def http_ok(url: str) -> bool:
    """True when ``url`` answers with any HTTP status below 500."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URLs only
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def last_log_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return excerpt(lines[-1], 300) if lines else "(empty log)"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)


def _start_time(pid: int) -> float | None:
    """The process's start time (epoch seconds), or None if there is no such live process."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except psutil.Error:
        return None
