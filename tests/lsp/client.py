"""A minimal LSP client over a subprocess's stdio, for end-to-end tests.

One reader thread parses ``Content-Length`` frames into a queue; every wait is bounded.
Requests from the server (``workspace/codeLens/refresh`` and the like) are answered with
``null`` and also recorded, so tests can wait for them.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

WAIT_SECONDS = 60.0
MAX_MESSAGE_BYTES = 64 << 20
MAX_HEADER_LINES = 32

Message = dict[str, Any]


class ServerGone(Exception):
    pass


def read_message(stream: IO[bytes]) -> Message | None:
    length = None
    for _ in range(MAX_HEADER_LINES):
        line = stream.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length is None or not 0 <= length <= MAX_MESSAGE_BYTES:
        raise ValueError(f"bad frame header (length {length})")
    message: Message = json.loads(stream.read(length))
    return message


class LspConnection:
    """The client side of an LSP connection over a pair of byte streams."""

    def __init__(self, incoming: IO[bytes], outgoing: IO[bytes]) -> None:
        self.incoming = incoming
        self.outgoing = outgoing
        self.inbox: queue.Queue[Message | None] = queue.Queue()
        self.seen: list[Message] = []  # notifications and server requests, in arrival order
        self.answers: dict[str, Any] = {}  # result per server-request method (default null)
        self._next_id = 0
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                message = read_message(self.incoming)
                if message is None:
                    break
                self.inbox.put(message)
        finally:
            self.inbox.put(None)

    def _send(self, message: Message) -> None:
        body = json.dumps(message).encode()
        with self._lock:
            self.outgoing.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            self.outgoing.flush()

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = WAIT_SECONDS) -> Any:
        self._next_id += 1
        request_id = self._next_id
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        reply = self._wait(lambda m: m.get("id") == request_id and "method" not in m, timeout)
        if "error" in reply:
            raise AssertionError(f"{method} failed: {reply['error']}")
        return reply.get("result")

    def wait_for(
        self,
        method: str,
        match: Callable[[Any], bool] = lambda _: True,
        timeout: float = WAIT_SECONDS,
    ) -> Any:
        """Params of the first notification/request ``method`` (already seen or to come)."""
        for message in self.seen:
            if message.get("method") == method and match(message.get("params")):
                self.seen.remove(message)
                return message.get("params")
        found = self._wait(lambda m: m.get("method") == method and match(m.get("params")), timeout)
        self.seen.remove(found)
        return found.get("params")

    def _wait(self, wanted: Callable[[Message], bool], timeout: float) -> Message:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching message within {timeout} s; seen {self.seen}")
            try:
                message = self.inbox.get(timeout=remaining)
            except queue.Empty as error:
                raise TimeoutError(f"no matching message within {timeout} s") from error
            if message is None:
                raise ServerGone("the server closed the connection")
            if "method" in message:
                self.seen.append(message)
                if "id" in message:
                    result = self.answers.get(message["method"])
                    self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})
            if wanted(message):
                return message

    def initialize(self, root: Path, options: Any, pull_configuration: bool = False) -> Any:
        workspace = {"codeLens": {"refreshSupport": True}, "configuration": pull_configuration}
        result = self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": root.as_uri(),
                "initializationOptions": options,
                "capabilities": {"workspace": workspace},
            },
        )
        self.notify("initialized", {})
        return result

    def open(self, path: Path) -> str:
        uri = path.as_uri()
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                              "text": path.read_text()}},
        )  # fmt: skip
        return uri


class LspClient(LspConnection):
    """A language server subprocess, driven over its stdio."""

    def __init__(self, args: list[str], cwd: Path, stderr_path: Path) -> None:
        self._stderr = stderr_path.open("wb")
        self.process = subprocess.Popen(
            args, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        super().__init__(self.process.stdout, self.process.stdin)

    @classmethod
    def start_server(cls, cwd: Path) -> LspClient:
        return cls([sys.executable, "-m", "kreplay_dap.lsp"], cwd, cwd / "server-stderr.log")

    def close(self) -> int:
        """Shut the server down politely; returns its exit code."""
        try:
            if self.process.poll() is None:
                self.request("shutdown", None, timeout=30)
                self.notify("exit", None)
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=30)
            self._stderr.close()
