"""A local run as the dashboard's graph shows it: one line per step, the full logs in a file.

kfp.local prints every step's executor input, streamed log and outputs to ``sys.stdout``:
hundreds of lines per step. While a run lasts, ``sys.stdout`` is this writer: everything goes
to the log file, and each step's start and end become one line on the terminal (name,
status, duration); a failed step adds its last error line, the sentence that says what to do.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from llama_rollout.redaction import excerpt

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STARTED = re.compile(r"Executing task '([^']+)'")
_FINISHED = re.compile(r"Task '([^']+)' finished with status (\w+)")
_ERROR = re.compile(r"(\w+Error|\w+Exception|ERROR)\b[: ]")


class StepLog(io.TextIOBase):
    """The writer that stands in for ``sys.stdout`` during a local run."""

    def __init__(self, log: TextIO, terminal: TextIO) -> None:
        self.log = log
        self.terminal = terminal
        self.pending = ""
        self.started: dict[str, float] = {}
        self.last_error: dict[str, str] = {}
        self.current = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.log.write(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self._line(_ANSI.sub("", line))
        return len(text)

    def flush(self) -> None:
        self.log.flush()
        self.terminal.flush()

    def _line(self, line: str) -> None:
        if match := _STARTED.search(line):
            self.current = match[1]
            self.started[self.current] = time.monotonic()
            return
        if match := _FINISHED.search(line):
            name, status = match[1], match[2]
            took = time.monotonic() - self.started.get(name, time.monotonic())
            mark = "ok" if status == "SUCCESS" else "FAILED"
            self.terminal.write(f"  {name:<24} {mark:<7} {took:7.1f} s\n")
            if status != "SUCCESS" and (error := self.last_error.get(name)):
                self.terminal.write(f"    {error}\n")
            self.terminal.flush()
            return
        if self.current and _ERROR.search(line) and "Traceback" not in line:
            self.last_error[self.current] = excerpt(line.strip(), 400)


@contextlib.contextmanager
def one_line_per_step(log_path: Path, terminal: TextIO | None = None) -> Iterator[StepLog]:
    """Send ``sys.stdout`` to ``log_path`` and one line per step to ``terminal``."""
    terminal = terminal or sys.stderr
    log_path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    with log_path.open("w") as log, warnings.catch_warnings():
        writer = StepLog(log, terminal)
        saved, handlers = sys.stdout, root.handlers[:]

        # kfp.local's own warnings and the orchestrator's log lines go to the file as well.
        def show_warning(
            message: Warning | str, category: type[Warning], *_a: object, **_k: object
        ) -> None:
            log.write(f"{category.__name__}: {message}\n")

        warnings.showwarning = show_warning
        file_handler = logging.StreamHandler(log)
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        root.handlers = [file_handler]
        sys.stdout = writer
        try:
            yield writer
        finally:
            writer.write("\n")
            sys.stdout, root.handlers = saved, handlers
