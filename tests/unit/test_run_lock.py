"""Local runs share one embedded stack: one at a time, and a dead holder never blocks."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time

from llama_rollout.embedded.run_lock import one_run_at_a_time

HOLD = """
import sys, time
from pathlib import Path
from llama_rollout.embedded.run_lock import one_run_at_a_time
with one_run_at_a_time(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    print("releasing", flush=True)
"""


def holder(root, seconds: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_run_waits_for_the_first_and_says_so(tmp_path, caplog):
    first = holder(tmp_path, 2.0)
    started = time.monotonic()
    with caplog.at_level(logging.INFO), one_run_at_a_time(tmp_path, report_every=0.5):
        waited = time.monotonic() - started
        assert first.stdout.readline().strip() == "releasing", "both runs held the lock at once"
    assert waited >= 1.0
    waits = [r.getMessage() for r in caplog.records if "waiting for it" in r.getMessage()]
    assert waits and f"another local run (pid {first.pid})" in waits[0]
    assert len(waits) >= 2, "a long wait is reported again"
    first.wait()


def test_a_killed_run_releases_the_lock(tmp_path):
    first = holder(tmp_path, 60.0)
    first.send_signal(signal.SIGKILL)
    first.wait()
    started = time.monotonic()
    with one_run_at_a_time(tmp_path):
        assert time.monotonic() - started < 1.0
