"""Waiting for a workload: ready, failed with why, or the last state at the deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from llama_rollout.kube.errors import NotReady


@dataclass(frozen=True)
class Readiness:
    """One look at a workload: ready, failed (with why), or still waiting (with what)."""

    ready: bool = False
    failure: str | None = None
    state: str = ""


def wait_until(
    check: Callable[[], Readiness],
    *,
    what: str,
    timeout: float,
    interval: float = 5.0,
    on_state: Callable[[str], None] | None = None,
) -> Readiness:
    """Poll ``check`` until ready; raise NotReady at the first failure or at the deadline.

    Args:
        check: one look at the workload.
        what: the workload's name in messages ("InferenceService ns/name").
        timeout: seconds before giving up.
        interval: seconds between looks.
        on_state: called when the observed state changes (progress logging).
    """
    deadline = time.monotonic() + timeout
    last = Readiness(state="not observed yet")
    while True:
        last = check()
        if last.ready:
            return last
        if last.failure:
            raise NotReady(f"{what} failed: {last.failure}")
        if on_state:
            on_state(last.state)
        if time.monotonic() >= deadline:
            raise NotReady(
                f"{what} not ready after {timeout:.0f}s; last state: {last.state}",
                hint="raise the timeout if the model is still loading, or inspect the pods",
            )
        time.sleep(interval)
