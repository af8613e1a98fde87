"""A minimal DAP client over TCP, for attaching to debugpy in tests."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

CONNECT_DEADLINE_S = 60.0
MESSAGE_DEADLINE_S = 60.0


def connect_when_listening(port: int, deadline_s: float = CONNECT_DEADLINE_S) -> socket.socket:
    """Connect once the debuggee listens (it starts after Python's imports)."""
    retry = threading.Event()
    end = time.monotonic() + deadline_s
    for _ in range(int(deadline_s / 0.05) + 1):
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            if time.monotonic() > end:
                break
            retry.wait(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class SocketDapClient:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(MESSAGE_DEADLINE_S)
        self.buffer = b""
        self.seq = 0
        self.received: list[dict[str, Any]] = []

    def send(self, command: str, arguments: dict[str, Any] | None = None) -> int:
        self.seq += 1
        message = {"seq": self.seq, "type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        body = json.dumps(message).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def _read_message(self) -> dict[str, Any]:
        for _ in range(10_000):
            header, separator, rest = self.buffer.partition(b"\r\n\r\n")
            if separator:
                length = int(header.split(b":")[1])
                if len(rest) >= length:
                    self.buffer = rest[length:]
                    message: dict[str, Any] = json.loads(rest[:length])
                    self.received.append(message)
                    return message
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("debuggee closed the connection")
            self.buffer += chunk
        raise RuntimeError("message too large")

    def wait_for(self, kind: str, name: str, limit: int = 500) -> dict[str, Any]:
        """The next event (kind="event") or response (kind="response") called ``name``."""
        for message in self.received:
            if message.get("type") == kind and name in (
                message.get("event"),
                message.get("command"),
            ):
                self.received.remove(message)
                return message
        for _ in range(limit):
            message = self._read_message()
            if message.get("type") == kind and name in (
                message.get("event"),
                message.get("command"),
            ):
                self.received.remove(message)
                return message
        raise TimeoutError(f"no {kind} {name}")


def _is(message: dict[str, Any], kind: str, name: str) -> bool:
    return message.get("type") == kind and name in (message.get("event"), message.get("command"))
