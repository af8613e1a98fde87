"""The cyclic garbage collector during long passes over a recording (an analysis, an
import).

A pass allocates millions of short-lived containers (rows, operations) next to a large,
slowly growing state; at the default young-generation size of 700 the older generations
were collected about 150 times over 1M operations, each walking that whole state (a fifth
of an analysis' time, 10-30 % of an import's). The passes make no reference cycles: what
they free, reference counting frees.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

PASS_GC_THRESHOLD = 100_000  # young-generation size while any pass runs
_gc_lock = threading.Lock()
_gc_passes = 0
_gc_saved: tuple[int, int, int] = (0, 0, 0)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the GC's young-generation threshold while any pass runs, then restore it."""
    global _gc_passes, _gc_saved
    with _gc_lock:
        if _gc_passes == 0:
            _gc_saved = gc.get_threshold()
            first, *older = _gc_saved
            gc.set_threshold(max(first, PASS_GC_THRESHOLD), *older)
        _gc_passes += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_passes -= 1
            if _gc_passes == 0:
                gc.set_threshold(*_gc_saved)
