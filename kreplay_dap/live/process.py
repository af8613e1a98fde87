"""The operator's process during a live run: started in its own process group, ended whole.

debugpy starts a helper adapter process of its own, so ending only the operator's pid
would leave that helper running. The group is ended instead. When the caller forwards
output (the debug adapter, whose stdout is the protocol channel), the operator's stdout and
stderr are pipes read line by line and handed to ``forward(text, category)``; otherwise they
are the terminal's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable

TERMINATE_GRACE_SECONDS = 3.0
MAX_LINE_BYTES = 64 * 1024  # a longer line is forwarded in pieces
MAX_FORWARDED_LINES = 10_000_000

Forward = Callable[[str, str], None]  # (text, "stdout" | "stderr")


class OperatorProcess:
    """A started operator; ``end()`` stops its whole process group and returns its exit code."""

    def __init__(self, argv: list[str], env: dict[str, str], forward: Forward | None) -> None:
        piped = subprocess.PIPE if forward is not None else None
        self.popen = subprocess.Popen(
            argv, env=env, start_new_session=True, stdout=piped, stderr=piped,
            stdin=subprocess.DEVNULL if forward is not None else None,
        )  # fmt: skip
        self._pumps: list[threading.Thread] = []
        if forward is not None:
            streams = ((self.popen.stdout, "stdout"), (self.popen.stderr, "stderr"))
            for stream, category in streams:
                pump = threading.Thread(
                    target=_pump, args=(stream, category, forward), daemon=True,
                    name=f"kreplay-live-{category}",
                )  # fmt: skip
                pump.start()
                self._pumps.append(pump)

    def poll(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> None:
        """SIGKILL the whole group now: the last resort when ``end()`` may not finish."""
        _signal_group(self.popen.pid, signal.SIGKILL)

    def end(self) -> int:
        """Stop the group (TERM, then KILL after a grace period); wait for the output."""
        if self.popen.poll() is None:
            _signal_group(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(TERMINATE_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen.pid, signal.SIGKILL)
                self.popen.wait(TERMINATE_GRACE_SECONDS)
        # The operator may be gone while its helpers still live in the group.
        _signal_group(self.popen.pid, signal.SIGKILL)
        for pump in self._pumps:
            pump.join(TERMINATE_GRACE_SECONDS)
        return int(self.popen.returncode)


def _signal_group(group: int, number: signal.Signals) -> None:
    try:
        os.killpg(group, number)
    except ProcessLookupError:
        return  # the whole group has already exited


def _pump(stream: object, category: str, forward: Forward) -> None:
    readline = getattr(stream, "readline", None)
    if readline is None:
        return
    for _ in range(MAX_FORWARDED_LINES):
        line = readline(MAX_LINE_BYTES)
        if not line:
            return
        forward(line.decode("utf-8", errors="replace"), category)
