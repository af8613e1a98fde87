"""A second process that reads the session and runs the world-free detectors.

Large sessions of kreplay files are analysed by two processes at once: this one runs the
world-based detectors (loops, races) and the reading process (``offload_worker``) reads
the rows from SQLite (a third of a single-process pass' time), hands them over as
``marshal`` pages (a quarter of the cost of reading them) and runs the fight, conflict,
error and slow detectors (``side.py``) on the operations this process has acknowledged.
Both see the same rows in the same order, so the report is the single-process one.

The reading process opens the file read-only, stays at most a few pages ahead, and is
killed when the analysis ends or fails; its failure, death or silence (over
``WORKER_SILENCE_S``) becomes a ``KreplayError``.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import marshal
import os
import pickle
import select
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kreplay_dap.analysis import frames
from kreplay_dap.analysis.model import AnalysisOptions
from kreplay_dap.analysis.rows import ScannedOp
from kreplay_dap.analysis.scan import SCAN_PAGE_ROWS, Keyed
from kreplay_dap.analysis.side import SideResults, SideSettings
from recorder import errors as error_types
from recorder.errors import KreplayError
from recorder.storage.api import Recording
from recorder.storage.reader import KreplayRecording

WORKER_SILENCE_S = 120.0
WORKER_EXIT_S = 10.0  # for a worker that sent its results to exit by itself
# Automatic mode wants the last minute's load below the CPUs minus this (this analysis'
# own process counts about 1 when it has been busy, e.g. in back-to-back runs).
SPARE_CPU = 0.5
PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size; about 11 pages of 1,000 rows
MAX_IN_FLIGHT = 32  # frames the worker may have sent after STOP: pages, END, RESULT
logger = logging.getLogger(__name__)
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])


def wanted(recording: Recording, total: int, options: AnalysisOptions) -> bool:
    """Whether a second process reads the session (see ``AnalysisOptions.parallel``)."""
    if options.parallel is False or not isinstance(recording, KreplayRecording):
        return False
    if not sys.platform.startswith("linux"):  # the frames rely on select() over pipes
        return False
    if options.parallel:
        return True
    cpus = _cpus()
    # Two processes take about 1.4 times the CPU of one: worth it only with a core to spare.
    # On a busy machine each hand-over of a page waits for a CPU and the pass gets slower.
    return total >= options.parallel_min_ops and cpus >= 2 and _load() < cpus - SPARE_CPU


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # no load average on this system: assume the machine is free
        return 0.0


def _widen(fd: int) -> None:
    """Lets the worker's pages queue in the pipe (a 64 KiB pipe holds less than one): each
    process then keeps working while the other one waits for a CPU on a busy machine."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except OSError as error:  # over the system's limit
        logger.debug("analysis pipe keeps its size: %s", error)


def settings_of(options: AnalysisOptions) -> SideSettings:
    return SideSettings(
        fights=options.loops, conflicts=options.errors, slow=options.slow,
        error_findings=options.errors, repeats=options.min_repeats(),
        storm_gap_s=options.storm_gap_s, max_objects=options.max_objects,
        threshold_ms=options.resolved_threshold_ms() if options.slow else 0.0,
    )  # fmt: skip


class ReaderProcess:
    """The reading process of one analysis; ``close()`` it in every case."""

    def __init__(self, recording: KreplayRecording, session_id: str, options: AnalysisOptions):
        self.recording = recording
        args = {"path": recording.path, "max_ops": recording.max_ops, "session": session_id,
                "settings": asdict(settings_of(options))}  # fmt: skip
        environment = dict(os.environ)
        paths = [_SOURCE_ROOT, *filter(None, [environment.get("PYTHONPATH")])]
        environment["PYTHONPATH"] = os.pathsep.join(paths)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  # closed by close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kreplay_dap.analysis.offload_worker", json.dumps(args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env=environment, close_fds=True,
        )  # fmt: skip
        if self.process.stdin is None or self.process.stdout is None:
            raise frames.WorkerError("the analysis' reading process has no pipes")
        self._to_worker = self.process.stdin.fileno()
        self._from_worker = self.process.stdout.fileno()
        _widen(self._from_worker)
        self._max_pages = recording.max_ops // SCAN_PAGE_ROWS + 3
        self._finished = False

    def operations(self) -> Iterator[Keyed]:
        """The session's operations as the worker reads them (chained in C per page)."""
        return itertools.chain.from_iterable(self._pages())

    def _pages(self) -> Iterator[Iterator[Keyed]]:
        for _ in range(self._max_pages):
            kind, payload = self._read()
            if kind == frames.END:
                self._note_limits(marshal.loads(payload))
                return
            if kind != frames.PAGE:
                self._unexpected(kind, payload)
            rows, keys = marshal.loads(payload)
            yield zip(map(tuple.__new__, itertools.repeat(ScannedOp), rows), keys, strict=True)
            # Asked for the next page: every operation of this one was handed on.
            self._write(frames.ACK)
        raise frames.WorkerError(f"the analysis' reading process sent over {self._max_pages} pages")

    def finish(self, processed: int) -> SideResults:
        """Tells the worker the analysis processed ``processed`` operations; its results."""
        self._write(frames.STOP, frames.COUNT.pack(processed))
        for _ in range(MAX_IN_FLIGHT):
            kind, payload = self._read()
            if kind == frames.RESULT:
                results, limits = pickle.loads(payload)  # from the process we started
                self._note_limits(limits)
                if not isinstance(results, SideResults):
                    raise frames.WorkerError("the analysis' reading process sent no results")
                self._finished = True
                return results
            if kind not in (frames.PAGE, frames.END):
                self._unexpected(kind, payload)
        raise frames.WorkerError("the analysis' reading process did not send its results")

    def close(self) -> None:
        """Lets a worker that sent its results exit by itself (its CPU and memory figures
        then reach ``getrusage``), and kills it otherwise."""
        if self._finished and not self._output_ended(WORKER_EXIT_S):
            logger.warning("analysis reading process did not exit after its results")
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        self._stderr.close()

    def _output_ended(self, timeout_s: float) -> bool:
        """Whether the worker closed its output (it does so only by exiting) within
        ``timeout_s``; anything it still sends is dropped."""
        for _ in range(frames.MAX_READS_PER_FRAME):
            if not select.select([self._from_worker], [], [], timeout_s)[0]:
                return False
            if not os.read(self._from_worker, 1 << 16):
                return True
        return False

    def _write(self, kind: int, payload: bytes = b"") -> None:
        try:
            frames.write_frame(self._to_worker, kind, payload)
        except OSError as error:  # a broken pipe: the worker is gone
            raise self._ended(str(error)) from None

    def _read(self) -> tuple[int, bytes]:
        try:
            return frames.read_frame(self._from_worker, WORKER_SILENCE_S)
        except EOFError:
            raise self._ended("end of its output") from None

    def _unexpected(self, kind: int, payload: bytes) -> None:
        if kind != frames.FAILED:
            raise frames.WorkerError(f"unexpected frame {kind} from the analysis' reading process")
        name, message = marshal.loads(payload)
        error = getattr(error_types, str(name), None)
        if isinstance(error, type) and issubclass(error, KreplayError):
            raise error(str(message))
        raise frames.WorkerError(f"the analysis' reading process failed: {name}: {message}")

    def _note_limits(self, limits: Any) -> None:
        for message in limits if isinstance(limits, list) else ():
            if message not in self.recording.limit_events:
                self.recording.limit_events.append(str(message))

    def _ended(self, how: str) -> frames.WorkerError:
        """The error for a worker that went away: its exit code and last words."""
        # Its output ended or its input broke: it has exited (or is exiting), so this
        # wait is short.
        code = self.process.wait()
        return frames.WorkerError(
            f"the analysis' reading process ended before it finished ({how}; exit code"
            f" {code}): {self._stderr_tail()}"
        )

    def _stderr_tail(self) -> str:
        self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, self._stderr.tell() - 2000))
        text = self._stderr.read().decode("utf-8", "replace").strip()
        return text.splitlines()[-1] if text else "no message"
