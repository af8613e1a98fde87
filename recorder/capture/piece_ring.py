"""One reused buffer per watch stream for its socket reads, instead of a new bytes each.

A new ``bytes`` per socket read costs more than its copy. The pieces wait up to
``SEND_INTERVAL_S`` for the sender and are then freed together, on the sender's thread
and holding the GIL, and glibc hands the freed top of its heap back to the kernel, so
the next pieces fault fresh pages in: about two faults and 5 µs per 8 KiB read, against
0.6 µs for a copy into memory that stays mapped. The ring is one anonymous mapping whose
pages the kernel supplies as they are first touched, used in FIFO order and started over
from its beginning whenever it is empty, so a stream with little traffic only ever
touches the ring's first pages.

One thread writes (the one reading the stream: the socket file's lock serializes its
reads) and one reads (the sender), so no lock is needed: each counter has one writer.
The writer publishes ``reserved`` only after the pieces are queued, so every byte below
a ``reserved`` the sender reads belongs to a piece already in the queue.
"""

from __future__ import annotations

import mmap
from typing import Any

# 100 ms of a 20 MB/s stream; past that, pieces get a bytes of their own. A 16 MiB ring,
# which holds the benchmark's 100 MB/s streams, was 1-2 % slower than this one in the same
# process (its copies land in memory that has left the cache), and no faster than none.
RING_BYTES = 2 << 20


class PieceRing:
    """Copies of one stream's socket reads, handed out as views, given back in order."""

    __slots__ = ("__weakref__", "_view", "head", "released", "reserved", "size", "written")

    def __init__(self, size: int) -> None:
        try:
            self._view = memoryview(mmap.mmap(-1, size)) if size > 0 else memoryview(b"")
        except (OSError, ValueError, OverflowError):
            self._view = memoryview(b"")  # no ring: every piece becomes its own bytes
        self.size = len(self._view)
        self.head = 0  # where the next copy goes
        self.written = 0  # bytes handed out ever, counting the end skipped at each wrap
        self.reserved = 0  # ``written`` as of the last piece queued (the writer publishes)
        self.released = 0  # bytes the sender gave back ever

    def copy(self, data: Any) -> memoryview | None:
        """A view of a copy of ``data`` (bytes-like), or None when there is no room."""
        count = len(data)
        used = self.written - self.released
        head = self.head if used else 0  # empty: start over, where pages are mapped
        free = self.size - used
        if head + count > self.size:  # start over at the beginning: the end is skipped
            skipped = self.size - head
            if skipped + count > free:
                return None
            self.written += skipped
            free -= skipped
            head = 0
        if count > free:
            return None
        end = head + count
        view = self._view[head:end]
        view[:] = data
        self.head = end
        self.written += count
        return view
