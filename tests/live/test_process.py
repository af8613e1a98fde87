"""The operator's process group: its output forwarded by category, and ended whole."""

from __future__ import annotations

import os
import queue
import select
import sys

from kreplay_dap.live.process import OperatorProcess

# The operator starts a helper (as debugpy does) and both wait for a signal forever.
OPERATOR = """
import signal, subprocess, sys
helper = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])
print(f"helper {helper.pid}", flush=True)
print("to stderr", file=sys.stderr, flush=True)
signal.pause()
"""
DEADLINE_S = 60


def exits_within_deadline(pidfd: int) -> bool:
    """A pidfd turns readable when its process exits (reaped or not)."""
    readable, _, _ = select.select([pidfd], [], [], DEADLINE_S)
    return bool(readable)


def test_output_is_forwarded_and_end_stops_the_whole_group() -> None:
    lines: queue.Queue[tuple[str, str]] = queue.Queue()
    forward = lambda text, kind: lines.put((kind, text))  # noqa: E731
    process = OperatorProcess([sys.executable, "-c", OPERATOR], dict(os.environ), forward)
    received = [lines.get(timeout=DEADLINE_S) for _ in range(2)]
    assert sorted(kind for kind, _ in received) == ["stderr", "stdout"]
    assert ("stderr", "to stderr\n") in received
    helper = int(next(text for kind, text in received if kind == "stdout").split()[1])
    pidfd = os.pidfd_open(helper)
    try:
        assert not select.select([pidfd], [], [], 0)[0]  # the helper runs
        assert process.end() != 0  # ended by a signal
        assert exits_within_deadline(pidfd)
    finally:
        os.close(pidfd)


def test_without_forwarding_the_output_is_not_piped() -> None:
    process = OperatorProcess([sys.executable, "-c", "pass"], dict(os.environ), None)
    assert process.popen.stdout is None and process.popen.stderr is None
    assert process.popen.wait(DEADLINE_S) == 0
    assert process.end() == 0  # the exit code of an operator that ended by itself


def test_kill_ends_the_group_at_once() -> None:
    lines: queue.Queue[tuple[str, str]] = queue.Queue()
    forward = lambda text, kind: lines.put((kind, text))  # noqa: E731
    process = OperatorProcess([sys.executable, "-c", OPERATOR], dict(os.environ), forward)
    received = [lines.get(timeout=DEADLINE_S) for _ in range(2)]
    helper = int(next(text for kind, text in received if kind == "stdout").split()[1])
    pidfds = [os.pidfd_open(helper), os.pidfd_open(process.popen.pid)]
    try:
        process.kill()
        assert all(exits_within_deadline(pidfd) for pidfd in pidfds)
        assert process.end() == -9  # end() after kill() only collects the exit status
    finally:
        for pidfd in pidfds:
            os.close(pidfd)
