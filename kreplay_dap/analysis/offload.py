"""A second process that reads the session and runs the world-free detectors.

Large sessions of kreplay files are analysed by two processes at once: this one runs the
world-based detectors (loops, races) and the reading process (``offload_worker``) reads
the rows from SQLite (a third of a single-process pass' time), hands them over as
``marshal`` pages (a quarter of the cost of reading them) and runs the fight, conflict,
error and slow detectors (``side.py``) on the operations this process has acknowledged.
Both see the same rows in the same order, so the report is the single-process one.

The reading process opens the file read-only, stays at most a few pages ahead, and is
killed when the analysis ends or fails; its failure, death or silence (over
``recorder.frames.WORKER_SILENCE_S``) becomes a ``KreplayError``.
"""

from __future__ import annotations

import itertools
import logging
import marshal
import pickle
import sys
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from kreplay_dap.analysis import frames
from kreplay_dap.analysis.model import AnalysisOptions
from kreplay_dap.analysis.rows import ScannedOp
from kreplay_dap.analysis.scan import SCAN_PAGE_ROWS, Keyed
from kreplay_dap.analysis.side import SideResults, SideSettings
from recorder.frames import WorkerError, WorkerProcess, spare_core
from recorder.storage.api import Recording
from recorder.storage.reader import KreplayRecording

WORKER_EXIT_S = 10.0  # for a worker that sent its results to exit by itself
MAX_IN_FLIGHT = 32  # frames the worker may have sent after STOP: pages, END, RESULT
logger = logging.getLogger(__name__)


def wanted(recording: Recording, total: int, options: AnalysisOptions) -> bool:
    """Whether a second process reads the session (see ``AnalysisOptions.parallel``)."""
    if options.parallel is False or not isinstance(recording, KreplayRecording):
        return False
    if not sys.platform.startswith("linux"):  # the frames rely on select() over pipes
        return False
    if options.parallel:
        return True
    # Two processes take about 1.4 times the CPU of one: worth it only with a core to spare.
    return total >= options.parallel_min_ops and spare_core()


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
        self.worker = WorkerProcess(
            "kreplay_dap.analysis.offload_worker", args, "the analysis' reading process"
        )
        self._max_pages = recording.max_ops // SCAN_PAGE_ROWS + 3
        self._finished = False

    def operations(self) -> Iterator[Keyed]:
        """The session's operations as the worker reads them (chained in C per page)."""
        return itertools.chain.from_iterable(self._pages())

    def _pages(self) -> Iterator[Iterator[Keyed]]:
        worker = self.worker
        for _ in range(self._max_pages):
            kind, payload = worker.read()
            if kind == frames.END:
                self._note_limits(marshal.loads(payload))
                return
            if kind != frames.PAGE:
                raise worker.unexpected(kind, payload)
            rows, keys = marshal.loads(payload)
            yield zip(map(tuple.__new__, itertools.repeat(ScannedOp), rows), keys, strict=True)
            # Asked for the next page: every operation of this one was handed on.
            worker.write(frames.ACK)
        raise WorkerError(f"the analysis' reading process sent over {self._max_pages} pages")

    def finish(self, processed: int) -> SideResults:
        """Tells the worker the analysis processed ``processed`` operations; its results."""
        self.worker.write(frames.STOP, frames.COUNT.pack(processed))
        for _ in range(MAX_IN_FLIGHT):
            kind, payload = self.worker.read()
            if kind == frames.RESULT:
                results, limits = pickle.loads(payload)  # from the process we started
                self._note_limits(limits)
                if not isinstance(results, SideResults):
                    raise WorkerError("the analysis' reading process sent no results")
                self._finished = True
                return results
            if kind not in (frames.PAGE, frames.END):
                raise self.worker.unexpected(kind, payload)
        raise WorkerError("the analysis' reading process did not send its results")

    def close(self) -> None:
        """Lets a worker that sent its results exit by itself (its CPU and memory figures
        then reach ``getrusage``), and kills it otherwise."""
        if self._finished and not self.worker.output_ended(WORKER_EXIT_S):
            logger.warning("analysis reading process did not exit after its results")
        self.worker.close()

    def _note_limits(self, limits: Any) -> None:
        for message in limits if isinstance(limits, list) else ():
            self.recording.note_limit(str(message))
