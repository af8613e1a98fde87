"""A DebugSession driven in process: requests go through ``dispatch`` as the server sends
them, and every message the adapter writes is read back from its output.

With ``main_loop=True`` the session gets a ``post`` whose work the test runs by hand (as
the server's main loop would), so background work (the analysis) happens when the test
says; without it, background work runs at once."""

from __future__ import annotations

import io
import queue
from collections.abc import Callable
from typing import Any

from kreplay_dap.dap import handlers
from kreplay_dap.dap.dispatch import Output, dispatch
from kreplay_dap.dap.framing import FrameReader
from kreplay_dap.dap.session import DebugSession

WAIT_S = 30
__all__ = ["InProcess", "handlers"]  # importing the handlers registers them


class InProcess:
    def __init__(self, main_loop: bool = False) -> None:
        self.sink = io.BytesIO()
        self.output = Output(self.sink)
        self.session = DebugSession(self.output)
        self.posted: queue.Queue[Callable[[], None]] = queue.Queue()
        if main_loop:
            self.session.post = self.posted.put
        self.seq = 0
        self.events: list[dict[str, Any]] = []
        self._read = 0

    def _messages(self) -> list[dict[str, Any]]:
        data = self.sink.getvalue()[self._read :]
        self._read += len(data)
        reader = FrameReader(io.BytesIO(data))
        found: list[dict[str, Any]] = []
        for _ in range(100_000):
            message = reader.read()
            if message is None:
                break
            found.append(message)
        self.events += [m for m in found if m["type"] == "event"]
        return [m for m in found if m["type"] == "response"]

    def send(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """The response to one request (its events are kept in ``events``)."""
        self.seq += 1
        message: dict[str, Any] = {"seq": self.seq, "type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        dispatch(self.session, self.output, message)
        (response,) = [r for r in self._messages() if r["request_seq"] == self.seq]
        return response

    def request(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.send(command, arguments)
        assert response["success"], response
        body: dict[str, Any] = response.get("body") or {}
        return body

    def failing(self, command: str, arguments: dict[str, Any] | None = None) -> str:
        response = self.send(command, arguments)
        assert not response["success"], response
        return str(response["message"])

    def collect(self) -> None:
        """Read what the adapter wrote outside a request (after a direct session call)."""
        self._messages()

    def run_posted(self) -> None:
        """Run the next piece of work posted to the main loop (waits for it)."""
        self.session.run_action(self.posted.get(timeout=WAIT_S), "background work")
        self._messages()

    def take(self, name: str) -> dict[str, Any] | None:
        """The body of the first kept event called ``name`` (removed), or None."""
        for index, event in enumerate(self.events):
            if event["event"] == name:
                body: dict[str, Any] = self.events.pop(index).get("body") or {}
                return body
        return None

    def stopped(self) -> dict[str, Any]:
        body = self.take("stopped")
        assert body is not None, f"no stopped event in {self.events}"
        return body

    def outputs(self, category: str = "") -> list[str]:
        return [
            e["body"]["output"]
            for e in self.events
            if e["event"] == "output" and (not category or e["body"]["category"] == category)
        ]

    def position(self) -> int:
        return self.session.engine.position

    def start(
        self,
        path: str,
        filters: list[str] | None = None,
        initialize: dict[str, Any] | None = None,
        **launch: Any,
    ) -> None:
        """initialize, launch, setExceptionBreakpoints, configurationDone."""
        self.request("initialize", {"adapterID": "kreplay", **(initialize or {})})
        self.request("launch", {"database": path, **launch})
        self.request("setExceptionBreakpoints", {"filters": filters or []})
        self.request("configurationDone")

    def close(self) -> None:
        self.session.terminated = True
        if self.session.recording is not None:
            self.session.recording.close()
