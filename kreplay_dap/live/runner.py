"""``LiveRun``: serve a recording, run the real operator against it, collect the verdict.

One thread (the caller's) supervises; the mock API server runs its own threads. The run
ends when the operator exits, goes idle (no write and nothing left to deliver for
``idle_seconds``), diverges under ``stop_on_divergence``, or hits ``timeout_seconds``.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kreplay_dap.apiserver.server import start_server
from kreplay_dap.live.backend import LiveBackend
from kreplay_dap.live.compare import parse_ignore_path
from kreplay_dap.live.launch import OperatorCommand, build_command, child_environment
from kreplay_dap.live.process import Forward, OperatorProcess
from kreplay_dap.live.report import Divergence, LiveSummary
from recorder.errors import InvalidInputError
from recorder.storage import open_recording
from recorder.storage.writer import DEFAULT_MAX_OPS

POLL_SECONDS = 0.1
STALL_SECONDS = 1.0


@dataclass
class LiveOptions:
    database: str
    session_id: str
    command: list[str]
    from_step: int = 0
    until_step: int | None = None
    debug: bool = False
    debug_port: int | None = None
    stop_on_divergence: bool = False
    ignore_paths: tuple[str, ...] = ()
    actor: str | None = None
    idle_seconds: float | None = 5.0
    timeout_seconds: float = 600.0
    # Where the operator's output goes: None keeps the terminal's; the debug adapter forwards.
    forward_output: Forward | None = None
    max_ops: int = DEFAULT_MAX_OPS  # operations of the session read at most

    def validate(self) -> None:
        if self.max_ops <= 0:
            raise InvalidInputError(f"the operation limit must be positive, not {self.max_ops}")
        self._validate_steps()

    def _validate_steps(self) -> None:
        if self.from_step < 0 or (self.until_step is not None and self.until_step < self.from_step):
            raise InvalidInputError("--from-step must be >= 0 and --until-step >= --from-step")
        if self.timeout_seconds <= 0 or (self.idle_seconds is not None and self.idle_seconds <= 0):
            raise InvalidInputError("--timeout and --idle-timeout must be positive")
        if self.debug_port is not None and not 0 < self.debug_port < 65536:
            raise InvalidInputError(f"--debug-port {self.debug_port} is not a TCP port")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveHooks:
    """Callbacks, called on server or supervisor threads: keep them short and thread safe."""

    on_divergence: Callable[[Divergence], None] | None = None
    on_started: Callable[[OperatorCommand, str], None] | None = None
    on_step: Callable[[int], None] | None = None


class LiveRun:
    def __init__(self, options: LiveOptions, hooks: LiveHooks | None = None) -> None:
        options.validate()
        self.options = options
        self.hooks = hooks or LiveHooks()
        self.diverged = threading.Event()
        self.cancelled = threading.Event()
        self.command: OperatorCommand | None = None
        self.process: OperatorProcess | None = None

    def cancel(self) -> None:
        """End the run from another thread (the debugger disconnected)."""
        self.cancelled.set()
        self.diverged.set()

    def kill(self) -> None:
        """Kill the operator's process group at once (the caller is about to exit)."""
        if self.process is not None:
            self.process.kill()

    def _divergence(self, divergence: Divergence) -> None:
        self.diverged.set()
        if self.hooks.on_divergence is not None:
            self.hooks.on_divergence(divergence)

    def run(self) -> LiveSummary:
        options = self.options
        ignore = tuple(parse_ignore_path(path) for path in options.ignore_paths)
        recording = open_recording(options.database, max_ops=options.max_ops)
        try:
            backend = LiveBackend(
                recording, options.session_id, from_step=options.from_step,
                until_step=options.until_step, actor=options.actor, ignore=ignore,
                on_divergence=self._divergence, on_step=self.hooks.on_step,
            )  # fmt: skip
            with start_server(backend) as server, tempfile.TemporaryDirectory() as folder:
                kubeconfig = server.write_kubeconfig(os.path.join(folder, "kubeconfig"))
                summary = self._supervise(backend, kubeconfig)
            summary.limits = list(recording.limit_events)
            return summary
        finally:
            recording.close()

    def _supervise(self, backend: LiveBackend, kubeconfig: str) -> LiveSummary:
        options = self.options
        port = (options.debug_port or free_port()) if options.debug else None
        self.command = build_command(options.command, kubeconfig, options.session_id, port)
        environment = child_environment(self.command.env)
        process = OperatorProcess(self.command.argv, environment, options.forward_output)
        self.process = process
        if self.hooks.on_started is not None:
            self.hooks.on_started(self.command, kubeconfig)
        stopped = False
        try:
            stopped = self._wait(process, backend)
        finally:
            exit_code = process.end()
        summary = backend.finish() if not stopped else backend.summary
        summary.operator_exit_code = exit_code
        summary.stopped_on_divergence = stopped
        return summary

    def _wait(self, process: OperatorProcess, backend: LiveBackend) -> bool:
        """Supervise until exit, idleness, divergence or timeout; True when stopped early."""
        options = self.options
        deadline = time.monotonic() + options.timeout_seconds
        # Without --stop-on-divergence nothing ends the wait early: poll at a steady pace.
        stop = self.diverged if options.stop_on_divergence else self.cancelled
        for _ in range(int(options.timeout_seconds / POLL_SECONDS) + 1):
            if stop.wait(POLL_SECONDS):
                return True
            if process.poll() is not None or time.monotonic() > deadline:
                return False
            quiet = time.monotonic() - backend.last_activity
            if quiet > STALL_SECONDS and backend.release_stalled():
                continue
            # Idle counts once the operator has talked to us: start-up can be slow.
            idle = options.idle_seconds
            if idle is not None and backend.calls_seen and quiet > idle:
                return False
        return False
