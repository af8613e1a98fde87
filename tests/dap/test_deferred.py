"""Deferred answers: a slow handler's work runs aside and the adapter keeps answering."""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kreplay_dap.dap import dispatch as dispatch_module
from kreplay_dap.dap import listing as listing_module
from kreplay_dap.dap.dispatch import Deferred, Output, dispatch
from kreplay_dap.dap.listing import Listing
from kreplay_dap.dap.session import DebugSession
from recorder.errors import RecordingError
from recorder.storage import Operation, RecordingWriter, SessionInfo, open_recording

from .test_framing_dispatch import frames

WAIT_S = 30


@pytest.fixture
def slow_handler() -> Iterator[threading.Event]:
    """A ``slow`` request whose answer waits for the test to open the gate."""
    gate = threading.Event()

    def slow(session: Any, args: dict[str, Any]) -> Deferred:
        return Deferred(lambda: {"opened": gate.wait(WAIT_S)})

    dispatch_module.HANDLERS["slow"] = slow
    yield gate
    del dispatch_module.HANDLERS["slow"]


def main_loop_session() -> tuple[io.BytesIO, Output, DebugSession, queue.Queue[Any]]:
    """A session whose ``post`` queues work for a main loop the test runs by hand."""
    sink = io.BytesIO()
    output = Output(sink)
    session = DebugSession(output)
    posted: queue.Queue[Callable[[], None]] = queue.Queue()
    session.post = posted.put
    return sink, output, session, posted


def test_requests_are_answered_while_a_deferred_one_works(slow_handler: threading.Event) -> None:
    sink, output, session, posted = main_loop_session()
    dispatch(session, output, {"seq": 1, "type": "request", "command": "slow"})
    dispatch(session, output, {"seq": 2, "type": "request", "command": "threads"})
    answered = [m for m in frames(sink.getvalue()) if isinstance(m, dict)]
    assert [m["request_seq"] for m in answered] == [2]
    slow_handler.set()
    posted.get(timeout=WAIT_S)()  # the main loop runs what the worker posted
    answered = [m for m in frames(sink.getvalue()) if isinstance(m, dict)]
    assert [m["request_seq"] for m in answered] == [2, 1]
    assert answered[1]["success"] is True and answered[1]["body"] == {"opened": True}


def test_a_failing_deferred_answer_is_an_error_response() -> None:
    def broken(session: Any, args: dict[str, Any]) -> Deferred:
        def work() -> dict[str, Any]:
            raise RecordingError("the recording went away")

        return Deferred(work)

    dispatch_module.HANDLERS["broken"] = broken
    try:
        sink, output, session, posted = main_loop_session()
        dispatch(session, output, {"seq": 5, "type": "request", "command": "broken"})
        posted.get(timeout=WAIT_S)()
    finally:
        del dispatch_module.HANDLERS["broken"]
    (answer,) = [m for m in frames(sink.getvalue()) if isinstance(m, dict)]
    assert answer["success"] is False and answer["message"] == "the recording went away"


def recording_path(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "r.db"
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo("s", started_ns=1))
        writer.append([Operation("s", 0, n, "get", kind="Pod", name=f"p{n}") for n in range(count)])
    return path


def test_concurrent_listing_requests_share_one_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = open_recording(str(recording_path(tmp_path, 50)))
    listing = Listing(recording, "s", first_seq=1)
    builds: list[int] = []
    fill = Listing._fill

    def counted(self: Listing, file: Any) -> Any:
        builds.append(1)
        return fill(self, file)

    monkeypatch.setattr(Listing, "_fill", counted)
    assert listing.can_build_aside and not listing.ready
    texts: list[Any] = []
    threads = [threading.Thread(target=lambda: texts.append(listing.text())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert len(builds) == 1 and len(texts) == 4 and all(t is texts[0] for t in texts)
    assert listing.ready
    listing.close()
    recording.close()


def test_a_discarded_listing_stops_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing_module, "_WRITE_PARTS", 4)  # a check every two lines
    recording = open_recording(str(recording_path(tmp_path, 50)))
    listing = Listing(recording, "s", first_seq=1)
    listing.close()  # a restart before (or while) the build runs
    with pytest.raises(RecordingError, match="discarded"):
        listing.text()
    assert not listing.ready
    recording.close()
