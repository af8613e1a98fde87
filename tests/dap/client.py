"""A small DAP client for end-to-end tests: frames over a subprocess's stdio, a bounded
deadline per message (a reader thread feeds a queue), and schema validation of every
message received against the DAP JSON schema when ``../shared/dap`` exists."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT.parent / "shared" / "dap" / "debugAdapterProtocol.json"
MESSAGE_DEADLINE_S = 30.0
# Launch arguments: the loop analysis off, or on with a low repeat threshold.
NO_LOOPS: dict[str, Any] = {"loopDetection": {"enabled": False}}
LOOPS: dict[str, Any] = {"loopDetection": {"enabled": True, "minRepeats": 4}}


class SchemaChecker:
    """Validates responses and events against their ``#/definitions/...`` entries."""

    def __init__(self) -> None:
        import jsonschema  # type: ignore[import-untyped]

        self.schema = json.loads(SCHEMA_PATH.read_text())
        self.validator_class = jsonschema.Draft7Validator

    def check(self, message: dict[str, Any], request_command: str = "") -> None:
        definitions = self.schema["definitions"]
        if message["type"] == "event":
            name = message["event"][0].upper() + message["event"][1:] + "Event"
        elif message["type"] == "request":  # a reverse request such as startDebugging
            name = message["command"][0].upper() + message["command"][1:] + "Request"
        elif not message.get("success", True):
            name = "ErrorResponse"
        else:
            name = message["command"][0].upper() + message["command"][1:] + "Response"
        if name not in definitions:
            name = "Event" if message["type"] == "event" else "Response"
        schema = {"$ref": f"#/definitions/{name}", "definitions": definitions}
        self.validator_class(schema).validate(message)


def schema_checker() -> SchemaChecker | None:
    return SchemaChecker() if SCHEMA_PATH.exists() else None


class DapClient:
    """Drives ``python -m kreplay_dap`` over stdio."""

    def __init__(self, checker: SchemaChecker | None, extra_args: tuple[str, ...] = ()) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kreplay_dap", *extra_args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=REPO_ROOT,
        )  # fmt: skip
        self.checker = checker
        self.seq = 0
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self.checked = 0
        self.last_thread = 1
        self.reader = threading.Thread(target=self._reader, daemon=True)
        self.reader.start()

    def _reader(self) -> None:
        assert self.process.stdout is not None
        stream = self.process.stdout
        for _ in range(1_000_000):
            header = b""
            while not header.endswith(b"\r\n\r\n"):
                byte = stream.read(1)
                if not byte:
                    self.inbox.put(None)
                    return
                header += byte
            length = int(header.split(b":")[1].strip())
            self.inbox.put(json.loads(stream.read(length)))

    def send_raw(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def send(self, command: str, arguments: dict[str, Any] | None = None) -> int:
        self.seq += 1
        message: dict[str, Any] = {"seq": self.seq, "type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        body = json.dumps(message).encode()
        self.send_raw(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        return self.seq

    def receive(self) -> dict[str, Any]:
        message = self.inbox.get(timeout=MESSAGE_DEADLINE_S)
        if message is None:
            raise EOFError("adapter closed its output")
        if self.checker is not None:
            self.checker.check(message)
            self.checked += 1
        if message["type"] == "event":
            self.events.append(message)
        return message

    def response(self, request_seq: int) -> dict[str, Any]:
        """Messages until the response to ``request_seq`` (events are kept)."""
        for _ in range(10_000):
            message = self.receive()
            if message["type"] == "response" and message["request_seq"] == request_seq:
                return message
        raise AssertionError("no response")

    def request(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.response(self.send(command, arguments))
        assert response["success"], response
        return response.get("body") or {}

    def failing(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.response(self.send(command, arguments))
        assert not response["success"], response
        return response

    def event(self, name: str) -> dict[str, Any]:
        """The next (already received or upcoming) event called ``name``."""
        found = next((e for e in self.events if e["event"] == name), None)
        for _ in range(10_000):
            if found is not None:
                break
            message = self.receive()
            if message["type"] == "event" and message["event"] == name:
                found = message
        if found is None:
            raise AssertionError(f"no {name} event")
        self.events.remove(found)
        if name == "stopped":
            self.last_thread = found["body"]["threadId"]
        return found

    def close(self) -> int:
        if self.process.poll() is None and self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        code = self.process.wait(timeout=MESSAGE_DEADLINE_S)
        # A process the adapter started and left running would hold its stdout open.
        self.reader.join(MESSAGE_DEADLINE_S)
        if self.reader.is_alive():
            raise AssertionError("the adapter exited but something still holds its stdout open")
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code
