"""The adapter's main loop: a reader thread feeds a bounded queue; the main thread
dispatches requests one at a time. ``pause`` is also noticed by the reader so a long
search on the main thread can be cancelled."""

from __future__ import annotations

import logging
import queue
import socket
import sys
import threading
from typing import Any, BinaryIO

from kreplay_dap.dap import handlers  # registers every handler
from kreplay_dap.dap.dispatch import Output, dispatch
from kreplay_dap.dap.framing import FrameError, FrameReader
from kreplay_dap.dap.session import DebugSession

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
MAX_MESSAGES = 100_000_000  # per connection; a bound, not a quota
EXIT_PROTOCOL_ERROR = 2
_EOF = object()

__all__ = ["handlers", "serve", "serve_tcp"]


def _read_loop(stream: BinaryIO, inbox: queue.Queue[Any], session: DebugSession) -> None:
    """Parse frames until end of stream; bad frames are logged or reported, never fatal
    unless the stream cannot be resynchronised."""
    reader = FrameReader(stream)
    for _ in range(MAX_MESSAGES):
        try:
            message = reader.read()
        except FrameError as error:
            log.error("dropped frame: %s", error)
            inbox.put(error)
            if not error.recoverable:
                return
            continue
        except (OSError, ValueError) as error:
            log.info("input closed: %s", error)
            message = None
        except Exception as error:  # a dead reader would leave the adapter hung
            log.exception("cannot read input")
            inbox.put(FrameError(f"cannot read input: {error}", recoverable=False))
            return
        if message is None:
            inbox.put(_EOF)
            return
        if message.get("type") == "request" and message.get("command") == "pause":
            session.control.cancelled = True
        inbox.put(message)
    inbox.put(_EOF)


def serve(reader: BinaryIO, writer: BinaryIO) -> int:
    """Serve one client until disconnect or end of input; returns the exit code."""
    output = Output(writer)
    session = DebugSession(output)
    inbox: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_SIZE)
    session.post = inbox.put
    threading.Thread(target=_read_loop, args=(reader, inbox, session), daemon=True).start()
    code = 0
    for _ in range(MAX_MESSAGES):
        if session.terminated or output.closed:
            break
        item = inbox.get()
        if item is _EOF:
            break
        if callable(item):  # results of background work, run on this thread
            session.run_action(item, "background work")
            continue
        if isinstance(item, FrameError):
            output.event(
                "output", {"category": "stderr", "output": f"kreplay: dropped frame: {item}\n"}
            )
            if not item.recoverable:
                code = EXIT_PROTOCOL_ERROR
                break
            continue
        dispatch(session, output, item)
    if session.recording is not None:
        session.recording.close()
    return code


def serve_tcp(port: int) -> int:
    """Listen on 127.0.0.1:port (0 picks a free one), serve the first client."""
    with socket.create_server(("127.0.0.1", port)) as server:
        print(
            f"kreplay-dap listening on 127.0.0.1:{server.getsockname()[1]}",
            file=sys.stderr,
            flush=True,
        )
        connection, _ = server.accept()
        with connection, connection.makefile("rb") as reader, connection.makefile("wb") as writer:
            return serve(reader, writer)
