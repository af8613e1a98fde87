"""The writer process's intake: frames are read as they arrive, written in quiet moments.

Any CPU the writer uses while the operator is busy slows the operator, even at
SCHED_IDLE on another core (shared caches and memory bandwidth, a hypervisor's shared
core): measured here, 4-6 % of a watch loop's throughput. So the writer holds what it
reads during a burst and writes it once the operator pauses (no frame for ``QUIET_S``),
or when it has held something for ``MAX_HOLD_S`` or ``MAX_HOLD_BYTES``, or when asked to
flush or end. The operator side still hands everything over every 100 ms, so a SIGKILL
of the operator loses no more than before: the writer commits what it holds at end of
input. A steady load longer than ``MAX_HOLD_S`` gets no such relief.
"""

from __future__ import annotations

import select
import time
from typing import BinaryIO

from recorder.capture import messages as m
from recorder.errors import KreplayError

QUIET_S = 0.25  # above the sender's 100 ms interval: a frame that late means a pause
MAX_HOLD_S = 1.0
MAX_HOLD_BYTES = 32 << 20
_URGENT_TAGS = frozenset({m.FLUSH, m.END})


class Intake:
    """Reads frames; hands back the messages of one or more of them at the right time."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.ended = False
        self.error: BaseException | None = None

    def next_batch(self) -> list[m.Message]:
        """The messages to write now; at end of input (or a bad frame) they end with END."""
        if self.ended:
            return [(m.END, time.time_ns())]
        held: list[m.Message] = []
        held_bytes = 0
        deadline = 0.0
        while not self.ended:
            if held:
                wait = min(QUIET_S, deadline - time.monotonic())
                if wait <= 0 or not self._readable(wait):
                    return held
            sized = self._read()
            if sized is None:
                held.append((m.END, time.time_ns()))
                return held
            frame, size = sized
            if not held:
                deadline = time.monotonic() + MAX_HOLD_S
            held.extend(frame)
            held_bytes += size
            if held_bytes >= MAX_HOLD_BYTES or any(msg[0] in _URGENT_TAGS for msg in frame):
                return held
        return held

    def _read(self) -> tuple[list[m.Message], int] | None:
        """The next frame and its size; None at end of input or after a malformed frame."""
        try:
            sized = m.read_sized_frame(self.stream)
        except (KreplayError, OSError, ValueError, EOFError, TypeError) as error:
            self.error = error
            sized = None
        if sized is None:
            self.ended = True
        return sized

    def _readable(self, timeout: float) -> bool:
        """Whether a frame starts within ``timeout``; a stream without a descriptor is."""
        try:
            fd = self.stream.fileno()
        except (OSError, ValueError):
            return True
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
