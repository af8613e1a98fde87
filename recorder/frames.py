"""A helper process of ours and its frames: a kind byte, a length, a payload.

Long passes (an analysis, an import) hand their reading to a second process of ours
(``python -m <module> ARGS``) that streams frames over its stdout. Payloads are
``marshal`` or ``pickle`` data that only ever come from the process this one started
(never from a file or a network). ``WorkerProcess`` is the starting side: it spawns the
helper, reads and writes frames, maps a helper's ``FAILED`` frame back to our error
classes and turns its death or silence into a ``WorkerError``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import marshal
import os
import select
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from recorder import errors as error_types
from recorder.errors import KreplayError

HEADER = struct.Struct(">BI")
MAX_FRAME = 256 << 20  # pages are at most a few MB; anything near this is broken
MAX_READS_PER_FRAME = MAX_FRAME // 4096 + 16
FAILED = 4  # helper -> caller: (error class name, message)
PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size
WORKER_SILENCE_S = 120.0
# Automatic modes want the last minute's load below the CPUs minus this (the calling
# process counts about 1 when it has been busy, e.g. in back-to-back runs).
SPARE_CPU = 0.5
logger = logging.getLogger(__name__)
_SOURCE_ROOT = str(Path(__file__).resolve().parents[1])


class WorkerError(KreplayError):
    """A helper process failed, stopped answering or broke the protocol."""


def advance(parts: list[Any], start: int, written: int) -> int:
    """After ``written`` bytes of ``parts[start:]`` went out: the first unwritten part.

    A part written only in part is replaced by a view of its rest.
    """
    while start < len(parts) and written >= len(parts[start]):
        written -= len(parts[start])
        start += 1
    if written:
        parts[start] = memoryview(parts[start])[written:]
    return start


def write_frame(fd: int, kind: int, payload: bytes = b"") -> None:
    if len(payload) > MAX_FRAME:
        raise WorkerError(f"frame of {len(payload)} bytes is over {MAX_FRAME}")
    # Header and payload in one writev: no joined copy of a payload of megabytes.
    parts: list[Any] = [HEADER.pack(kind, len(payload)), payload]
    start = 0
    for _ in range(len(payload) // 512 + 2):  # each write moves at least 512 bytes (pipe atom)
        if start == len(parts) or (start == 1 and not payload):
            return
        start = advance(parts, start, os.writev(fd, parts[start:]))
    raise WorkerError("frame could not be written")


def _read_exact(fd: int, size: int, timeout_s: float | None) -> bytearray:
    # Straight into one buffer: reading pieces and joining them costs five times the
    # CPU for a page of megabytes (fresh memory for each piece and for the join).
    buffer = bytearray(size)
    view = memoryview(buffer)
    done = 0
    for _ in range(MAX_READS_PER_FRAME):
        if done == size:
            return buffer
        if timeout_s is not None and not select.select([fd], [], [], timeout_s)[0]:
            raise WorkerError(f"the helper process sent nothing for {timeout_s:.0f} s")
        got = os.readv(fd, [view[done:]])
        if not got:
            raise EOFError
        done += got
    raise WorkerError("frame arrived in too many pieces")


def read_frame(fd: int, timeout_s: float | None = None) -> tuple[int, bytearray]:
    """The next frame; ``EOFError`` when the other side closed the pipe before one began
    or in the middle of one."""
    kind, size = HEADER.unpack(_read_exact(fd, HEADER.size, timeout_s))
    if size > MAX_FRAME:
        raise WorkerError(f"frame of {size} bytes announced (over {MAX_FRAME})")
    return kind, _read_exact(fd, size, timeout_s)


def write_failure(fd: int, error: BaseException, role: str) -> None:
    """The helper's last frame: its error's class name and message (stderr if the caller
    is gone)."""
    detail = marshal.dumps((type(error).__name__, str(error)))
    try:
        write_frame(fd, FAILED, detail)
    except OSError:
        print(f"{role}: {type(error).__name__}: {error}", file=sys.stderr)


def spare_core(cpus_needed: int = 2) -> bool:
    """Whether this Linux machine has a core free for a helper process right now."""
    if not sys.platform.startswith("linux"):  # the frames rely on select() over pipes
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no affinity or load average: assume one core
        return False
    # A busy machine makes each hand-over of a page wait for a CPU: the pass gets slower.
    return cpus >= cpus_needed and load < cpus - SPARE_CPU


class WorkerProcess:
    """``python -m <module> <json args>`` with frames on its stdout; ``close()`` it in
    every case. ``role`` names it in errors ("the import's reading process")."""

    def __init__(self, module: str, args: dict[str, Any], role: str) -> None:
        self.role = role
        environment = dict(os.environ)
        paths = [_SOURCE_ROOT, *filter(None, [environment.get("PYTHONPATH")])]
        environment["PYTHONPATH"] = os.pathsep.join(paths)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  # closed by close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, json.dumps(args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env=environment, close_fds=True,
        )  # fmt: skip
        if self.process.stdin is None or self.process.stdout is None:
            raise WorkerError(f"{role} has no pipes")
        self.to_worker = self.process.stdin.fileno()
        self.from_worker = self.process.stdout.fileno()
        self._widen(self.from_worker)

    def _widen(self, fd: int) -> None:
        """Lets pages queue in the pipe (64 KiB holds less than one): each process then
        keeps working while the other one waits for a CPU on a busy machine."""
        set_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
        if set_size is None:
            return
        try:
            fcntl.fcntl(fd, set_size, PIPE_BYTES)
        except OSError as error:  # over the system's limit
            logger.debug("helper pipe keeps its size: %s", error)

    def write(self, kind: int, payload: bytes = b"") -> None:
        try:
            write_frame(self.to_worker, kind, payload)
        except OSError as error:  # a broken pipe: the worker is gone
            raise self.ended(str(error)) from None

    def read(self) -> tuple[int, bytearray]:
        try:
            return read_frame(self.from_worker, WORKER_SILENCE_S)
        except EOFError:
            raise self.ended("end of its output") from None

    def unexpected(self, kind: int, payload: bytes | bytearray) -> KreplayError:
        """The error for a frame the caller did not expect: the helper's own error when
        it is a ``FAILED`` frame naming one of ours."""
        if kind != FAILED:
            return WorkerError(f"unexpected frame {kind} from {self.role}")
        name, message = marshal.loads(payload)
        error = getattr(error_types, str(name), None)
        if isinstance(error, type) and issubclass(error, KreplayError):
            return error(str(message))
        return WorkerError(f"{self.role} failed: {name}: {message}")

    def output_ended(self, timeout_s: float) -> bool:
        """Whether the worker closed its output (it does so only by exiting) within
        ``timeout_s``; anything it still sends is dropped."""
        for _ in range(MAX_READS_PER_FRAME):
            if not select.select([self.from_worker], [], [], timeout_s)[0]:
                return False
            if not os.read(self.from_worker, 1 << 16):
                return True
        return False

    def close(self) -> None:
        """Kills a worker that is still running and frees its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        self._stderr.close()

    def ended(self, how: str) -> WorkerError:
        """The error for a worker that went away: its exit code and last words."""
        # Its output ended or its input broke: it has exited (or is exiting), so this
        # wait is short.
        code = self.process.wait()
        return WorkerError(
            f"{self.role} ended before it finished ({how}; exit code {code}): {self._stderr_tail()}"
        )

    def _stderr_tail(self) -> str:
        self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, self._stderr.tell() - 2000))
        text = self._stderr.read().decode("utf-8", "replace").strip()
        return text.splitlines()[-1] if text else "no message"
