"""One reused buffer per watch stream for its socket reads, instead of a new bytes each.

A new ``bytes`` per socket read costs more than its copy. The pieces wait up to
``SEND_INTERVAL_S`` for the sender and are then freed together, on the sender's thread
and holding the GIL, and glibc hands the freed top of its heap back to the kernel, so
the next pieces fault fresh pages in: about two faults and 5 µs per 8 KiB read, against
0.6 µs for a copy into memory that stays mapped. The ring is one anonymous mapping whose
pages the kernel supplies as they are first touched, used in FIFO order and started over
from its beginning whenever it is empty, so a stream with little traffic only ever
touches the ring's first pages. The socket tee reads the socket straight into it
(``space``, then ``keep``); ``copy`` takes a read that went to the socket file first.

One thread writes (the one reading the stream: the socket file's lock serializes its
reads) and one reads (the sender), so no lock is needed: each counter has one writer.
The writer publishes ``reserved`` only after the pieces are queued, so every byte below
a ``reserved`` the sender reads belongs to a piece already in the queue.
"""

from __future__ import annotations

import mmap
from typing import Any

# 100 ms of a 160 MB/s stream (the sender's interval). Past that, the tee reads into the
# client's buffer and each read becomes a bytes of its own. Pages are touched only as far
# as the stream's busiest 100 ms reached.
RING_BYTES = 16 << 20
# What a finished stream's ring keeps mapped for the next one (``trim``).
KEPT_BYTES = 2 << 20
# Private: its pages are the process's own, so ``trim`` frees them (a shared mapping's
# pages would stay allocated, only unmapped).
_PRIVATE = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)


class PieceRing:
    """Copies of one stream's socket reads, handed out as views, given back in order."""

    __slots__ = (
        "__weakref__", "_map", "_next", "_view", "head", "released", "reserved", "size",
        "trimmed_at", "written",
    )  # fmt: skip

    def __init__(self, size: int) -> None:
        self._map: mmap.mmap | None = None
        try:
            self._map = mmap.mmap(-1, size, flags=_PRIVATE) if size > 0 else None
        except (OSError, ValueError, OverflowError, TypeError):  # TypeError: no flags here
            self._map = None  # no ring: every piece becomes its own bytes
        self._view = memoryview(self._map) if self._map is not None else memoryview(b"")
        self.size = len(self._view)
        self.head = 0  # where the next copy goes
        self.written = 0  # bytes handed out ever, counting the end skipped at each wrap
        self.reserved = 0  # ``written`` as of the last piece queued (the writer publishes)
        self.released = 0  # bytes the sender gave back ever
        self.trimmed_at = 0  # ``written`` when ``trim`` last ran
        self._next = (0, 0)  # the last ``space``: where it starts, and the end it skips

    def space(self, count: int) -> memoryview | None:
        """``count`` free bytes in one run, to fill and then hand out with ``keep``; None
        when there is no room."""
        used = self.written - self.released
        head = self.head if used else 0  # empty: start over, where pages are mapped
        skipped = 0
        if head + count > self.size:  # start over at the beginning: the end is skipped
            skipped, head = self.size - head, 0
        if used + skipped + count > self.size:
            return None
        self._next = (head, skipped)
        return self._view[head : head + count]

    def keep(self, count: int) -> memoryview:
        """The first ``count`` bytes of the last ``space``, now a piece."""
        head, skipped = self._next
        end = head + count
        self.head = end
        self.written += skipped + count
        return self._view[head:end]

    def copy(self, data: Any) -> memoryview | None:
        """A view of a copy of ``data`` (bytes-like), or None when there is no room."""
        count = len(data)
        space = self.space(count)
        if space is None:
            return None
        space[:] = data
        return self.keep(count)

    def trim(self, keep: int) -> None:
        """Give the pages past ``keep`` back to the kernel. Only for a ring nobody writes
        to and whose pieces are all sent: the pages read as zeros afterwards."""
        advise = getattr(mmap, "MADV_DONTNEED", None)
        start = keep - keep % mmap.PAGESIZE
        self.trimmed_at = self.written
        if self._map is None or advise is None or start >= self.size:
            return
        self._map.madvise(advise, start, self.size - start)
