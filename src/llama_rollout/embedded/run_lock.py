"""One local run at a time on the embedded stack: the run lock."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from llama_rollout.embedded.stack import usable_folder

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def one_run_at_a_time(root: Path, *, report_every: float = 30.0) -> Iterator[None]:
    """Hold the embedded stack's run lock; a second local run waits for the first.

    Runs share the stack's S3, registry and vLLM, and a served model belongs to one run at a
    time. The lock is an flock on ``run.lock``: the kernel releases it when its holder exits,
    however it exits, so a killed run never blocks the next one.
    """
    usable_folder(root, "state", "LLAMA_ROLLOUT_STATE_DIR", create=True)
    with (root / "run.lock").open("a+") as lock:
        started = time.monotonic()
        reported: float | None = None
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if reported is None or now - reported >= report_every:
                    lock.seek(0)
                    holder = lock.read().strip() or "unknown"
                    logger.info(
                        "another local run (pid %s) is using the embedded stack: waiting for it "
                        "(%.0f s so far)",
                        holder,
                        now - started,
                    )
                    reported = now
                time.sleep(0.5)
        try:
            lock.truncate(0)
            lock.write(f"{os.getpid()}\n")
            lock.flush()
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
