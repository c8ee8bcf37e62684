"""The mirror's memory: a fixed pool of part buffers, reused for the whole transfer."""

from __future__ import annotations

import queue


class PartBuffers:
    """A fixed pool of part buffers: all the memory a mirror holds for file data.

    Reusing the same buffers keeps memory flat however large the model is (fresh buffers per
    part fragment the allocator's heaps, and resident memory creeps up with the bytes moved).
    Taking a buffer blocks while all are in flight, which is the mirror's back-pressure.
    """

    def __init__(self, count: int, size: int) -> None:
        self.size = size
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(count):
            self._free.put(bytearray(size))

    def take(self) -> bytearray:
        return self._free.get()

    def give_back(self, buffer: bytearray) -> None:
        self._free.put(buffer)
