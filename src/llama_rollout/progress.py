"""Progress of a long transfer, logged at a steady pace: files, bytes, throughput, ETA."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

logger = logging.getLogger(__name__)

MiB = 1024 * 1024


@dataclass(frozen=True)
class ProgressSnapshot:
    files_sent: int
    files_skipped: int
    bytes_sent: int
    bytes_done: int
    elapsed: float

    @property
    def throughput(self) -> float:
        """Bytes sent per second since the start."""
        return self.bytes_sent / self.elapsed if self.elapsed > 0 else 0.0


class TransferProgress:
    """Thread-safe counters for a transfer, and a reporter that logs them.

    ``bytes_sent`` counts bytes actually written to the destination; ``bytes_done`` also counts
    bytes found already there (skipped files, resumed parts), so the percentage reaches 100.
    """

    def __init__(
        self, *, total_files: int, total_bytes: int, interval: float = 5.0, label: str = "mirror"
    ) -> None:
        self.label = label
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.interval = interval
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._files_sent = 0
        self._files_skipped = 0
        self._bytes_sent = 0
        self._bytes_done = 0

    def add(self, sent: int) -> None:
        with self._lock:
            self._bytes_sent += sent
            self._bytes_done += sent

    def add_resumed(self, size: int) -> None:
        with self._lock:
            self._bytes_done += size

    def file_done(self) -> None:
        with self._lock:
            self._files_sent += 1

    def file_skipped(self, size: int) -> None:
        with self._lock:
            self._files_skipped += 1
            self._bytes_done += size

    def snapshot(self) -> ProgressSnapshot:
        with self._lock:
            return ProgressSnapshot(
                files_sent=self._files_sent,
                files_skipped=self._files_skipped,
                bytes_sent=self._bytes_sent,
                bytes_done=self._bytes_done,
                elapsed=time.monotonic() - self._started,
            )

    def line(self) -> str:
        s = self.snapshot()
        percent = 100.0 * s.bytes_done / self.total_bytes if self.total_bytes else 100.0
        rate = s.throughput
        remaining = max(self.total_bytes - s.bytes_done, 0)
        eta = "0s" if remaining == 0 else (f"{remaining / rate:.0f}s" if rate > 0 else "?")
        return (
            f"files {s.files_sent + s.files_skipped}/{self.total_files} "
            f"({s.files_skipped} already there), "
            f"{s.bytes_done / MiB:.1f}/{self.total_bytes / MiB:.1f} MiB ({percent:.0f}%), "
            f"{rate / MiB:.1f} MiB/s, ETA {eta}"
        )

    @contextmanager
    def reporting(self) -> Iterator[None]:
        """Log a progress line every ``interval`` seconds while the block runs."""
        stop = threading.Event()

        def report() -> None:
            while not stop.wait(self.interval):
                logger.info("%s progress: %s", self.label, self.line())

        thread = threading.Thread(target=report, name=f"{self.label}-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            logger.info("%s progress: %s", self.label, self.line())
