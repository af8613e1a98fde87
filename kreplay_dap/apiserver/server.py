"""The thin HTTP layer: stdlib ``ThreadingHTTPServer`` (one thread per connection), keep-alive,
chunked transfer encoding for watches. Everything else is the resolver's job.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from kreplay_dap.apiserver.backend import Backend
from kreplay_dap.apiserver.messages import ApiRequest, ApiResponse, WatchStream
from kreplay_dap.apiserver.resolver import MAX_BODY_BYTES, ApiServer
from kreplay_dap.apiserver.status import failure_status

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
MAX_HEADER_COUNT = 100
MAX_CHUNKS = 10_000
POLL_SECONDS = 0.05


def _client_gone(connection: socket.socket) -> bool:
    """True when the peer closed its end (readable with nothing to read)."""
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Requests too broken to reach the resolver still get a Status body.
    error_content_type = "application/json"
    error_message_format = (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"%(message)s","reason":"BadRequest","code":%(code)d}'
    )
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError as error:
            self._send(ApiResponse.json(400, failure_status(400, "BadRequest", str(error))))
            self.close_connection = True
            return
        headers = dict(list(self.headers.items())[:MAX_HEADER_COUNT])
        request = ApiRequest.from_target(self.command, self.path, headers, body)
        response = self.server.api.handle(request)
        if response.stream is not None:
            self._send_stream(response, response.stream)
        else:
            self._send(response)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length", "0") or "0"
        if not length_text.isdigit():
            raise ValueError("invalid Content-Length")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        for _chunk in range(MAX_CHUNKS):
            size_line = self.rfile.readline(100).split(b";")[0].strip()
            size = int(size_line, 16)
            if size == 0:
                self.rfile.readline(100)
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise ValueError("request body too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(100)
        raise ValueError("too many chunks in request body")

    def _head(self, response: ApiResponse, framing: str) -> bytes:
        lines = [f"HTTP/1.1 {response.status} {self.responses.get(response.status, ('',))[0]}",
                 f"Content-Type: {response.content_type}", framing,
                 "Cache-Control: no-cache, private"]  # fmt: skip
        lines.extend(f"{k}: {v}" for k, v in response.headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send(self, response: ApiResponse) -> None:
        body = b"" if self.command == "HEAD" else response.body
        head = self._head(response, f"Content-Length: {len(response.body)}")
        self.wfile.write(head + body)
        self.log_request(response.status, len(body))

    def _send_stream(self, response: ApiResponse, stream: WatchStream) -> None:
        self.wfile.write(self._head(response, "Transfer-Encoding: chunked"))
        try:
            for chunk in stream:
                if chunk is None:
                    if _client_gone(self.connection):
                        break
                    continue
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError) as error:
            logger.debug("watcher went away: %s", error)
            self.close_connection = True
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        self.log_request(response.status, 0)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], api: ApiServer) -> None:
        self.api = api
        super().__init__(address, _Handler)


class RunningServer:
    """A server answering on ``url`` until ``stop()`` (also a context manager)."""

    def __init__(self, backend: Backend, host: str, port: int) -> None:
        self.backend = backend
        self.api = ApiServer(backend)
        self._http = _HttpServer((host, port), self.api)
        bound_host, bound_port = self._http.server_address[:2]
        self.host = str(bound_host)
        self.port = int(bound_port)
        self.url = f"http://{self.host}:{self.port}"
        self.api.server_address = f"{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            args=(POLL_SECONDS,),
            name=f"kreplay-apiserver-{self.port}",
            daemon=True,
        )
        self._stopped = False

    def start(self) -> RunningServer:
        self.backend.start()
        self._thread.start()
        return self

    def kubeconfig(self, namespace: str = "default") -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kreplay", "cluster": {"server": self.url}}],
            "users": [{"name": "kreplay", "user": {}}],
            "contexts": [
                {
                    "name": "kreplay",
                    "context": {"cluster": "kreplay", "user": "kreplay", "namespace": namespace},
                }
            ],
            "current-context": "kreplay",
        }

    def write_kubeconfig(self, path: str, namespace: str = "default") -> str:
        """Write a kubeconfig (JSON is valid YAML) for kubectl and ``load_kube_config``."""
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(self.kubeconfig(namespace), handle, indent=2)
        return path

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.backend.stop()
        self.backend.state.close()
        if self._thread.is_alive():
            self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def start_server(backend: Backend, host: str = LOOPBACK, port: int = 0) -> RunningServer:
    """Bind (port 0 picks a free port), start serving in a background thread, return at once.

    The socket is listening when this returns, so clients can connect immediately.
    """
    return RunningServer(backend, host, port).start()
