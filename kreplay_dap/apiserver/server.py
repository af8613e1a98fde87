"""The thin HTTP layer: a threading TCP server (one thread per connection) speaking HTTP/1.1
with keep-alive, and chunked transfer encoding for watches. Everything else is the resolver's.

Requests are parsed here rather than by ``http.server``, whose e-mail based header parser
costs more CPU than the whole resolver; the parser is strict and bounded (line length,
header count, body size), and anything malformed gets a 400 ``Status`` (413 for a body over
the limit) and a closed socket. Every connection has a read timeout, so a client that stalls
mid-request or idles between requests does not hold its thread forever.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import socketserver
import threading
from types import TracebackType
from typing import Any

from kreplay_dap.apiserver.backend import Backend
from kreplay_dap.apiserver.messages import ApiRequest, ApiResponse, WatchStream
from kreplay_dap.apiserver.resolver import MAX_BODY_BYTES, TOO_LARGE, ApiServer
from kreplay_dap.apiserver.status import encode, failure_status
from recorder.errors import InvalidInputError

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
MAX_LINE_BYTES = 16_384
MAX_HEADER_COUNT = 100
MAX_CHUNKS = 10_000
MAX_REQUESTS_PER_CONNECTION = 10_000_000
POLL_SECONDS = 0.05
DRAIN_SECONDS = 2.0
DRAIN_READS = 64
# A connection that sends nothing for this long (mid-request or between requests) is closed;
# kube-apiserver's HTTP server closes idle keep-alive connections after 90 s as well.
CONNECTION_TIMEOUT_SECONDS = 90.0
REASON_PHRASES = {200: "OK", 201: "Created", 202: "Accepted", 400: "Bad Request",
                  403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
                  410: "Gone", 413: "Payload Too Large", 414: "URI Too Long",
                  415: "Unsupported Media Type", 422: "Unprocessable Entity",
                  500: "Internal Server Error", 504: "Gateway Timeout"}  # fmt: skip


class MalformedRequest(ValueError):
    """The bytes on the socket are not an HTTP/1.x request we accept."""

    code = 400
    reason = "BadRequest"


class BodyTooLarge(MalformedRequest):
    """The request announces (or sends) more body than the server accepts."""

    code = 413
    reason = "RequestEntityTooLarge"

    def __init__(self) -> None:
        super().__init__(TOO_LARGE)


def _client_gone(connection: socket.socket) -> bool:
    """True when the peer closed its end (readable with nothing to read)."""
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Connection(socketserver.StreamRequestHandler):
    """Serves the requests of one connection, one after the other."""

    server: _HttpServer

    def handle(self) -> None:
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Reads and writes that make no progress for this long end the connection (an
        # OSError, handled below), so a stalled client cannot hold this thread forever.
        self.connection.settimeout(self.server.connection_timeout)
        self.server.track(self.connection)
        try:
            self._serve_requests()
        except OSError as error:
            logger.debug("connection ended: %s", error)
        finally:
            self.server.untrack(self.connection)

    def _serve_requests(self) -> None:
        try:
            for _request in range(MAX_REQUESTS_PER_CONNECTION):
                if not self._serve_one():
                    return
        except MalformedRequest as error:
            logger.info("malformed request from %s: %s", self.client_address[0], error)
            body = encode(failure_status(error.code, error.reason, str(error)))
            self._write_response(ApiResponse(error.code, body), keep_alive=False, head_only=False)
            self._drain()

    def _drain(self) -> None:
        """Lingering close: read what the client still sends (bounded), so closing with unread
        input does not reset the connection before the client has read our 400."""
        self.connection.shutdown(socket.SHUT_WR)
        self.connection.settimeout(DRAIN_SECONDS)
        for _read in range(DRAIN_READS):
            if not self.connection.recv(65_536):
                return

    def _serve_one(self) -> bool:
        """Serve one request; False when the connection should close."""
        request_line = self.rfile.readline(MAX_LINE_BYTES + 1)
        if not request_line or request_line in (b"\r\n", b"\n"):
            return bool(request_line)
        method, target, version = self._request_line(request_line)
        headers = self._headers()
        keep_alive = _keep_alive(version, headers.get("connection", ""))
        if headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self._body(headers)
        response = self.server.api.handle(ApiRequest.from_target(method, target, headers, body))
        if response.stream is not None:
            return self._write_stream(response, response.stream) and keep_alive
        self._write_response(response, keep_alive, head_only=method == "HEAD")
        return keep_alive

    @staticmethod
    def _request_line(line: bytes) -> tuple[str, str, str]:
        if len(line) > MAX_LINE_BYTES:
            raise MalformedRequest("request line too long")
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
            raise MalformedRequest(f"malformed request line {line[:100]!r}")
        method, target, version = parts
        if not method.isalpha() or not target.startswith("/"):
            raise MalformedRequest(f"malformed request line {line[:100]!r}")
        return method, target, version

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _header in range(MAX_HEADER_COUNT):
            line = self.rfile.readline(MAX_LINE_BYTES + 1)
            if line in (b"\r\n", b"\n"):
                return headers
            name, colon, value = line.decode("latin-1").partition(":")
            if not line.endswith(b"\n") or not colon or not name.strip() or " " in name:
                raise MalformedRequest("malformed header line")
            headers[name.strip().lower()] = value.strip()
        raise MalformedRequest(f"more than {MAX_HEADER_COUNT} headers")

    def _body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length_text = headers.get("content-length", "0") or "0"
        if not length_text.isdigit():
            raise MalformedRequest("invalid Content-Length")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise BodyTooLarge()
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise MalformedRequest("request body shorter than its Content-Length")
        return body

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        for _chunk in range(MAX_CHUNKS):
            size_text = self.rfile.readline(100).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as error:
                raise MalformedRequest("malformed chunk size") from error
            if size == 0:
                self.rfile.readline(100)
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise BodyTooLarge()
            parts.append(self.rfile.read(size))
            self.rfile.readline(100)
        raise MalformedRequest("too many chunks in request body")

    @staticmethod
    def _head(response: ApiResponse, framing: str, keep_alive: bool) -> bytes:
        reason = REASON_PHRASES.get(response.status, "Unknown")
        lines = [f"HTTP/1.1 {response.status} {reason}", f"Content-Type: {response.content_type}",
                 framing, "Cache-Control: no-cache, private"]  # fmt: skip
        lines.extend(f"{k}: {v}" for k, v in response.headers.items())
        if not keep_alive:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _write_response(self, response: ApiResponse, keep_alive: bool, head_only: bool) -> None:
        head = self._head(response, f"Content-Length: {len(response.body)}", keep_alive)
        self.wfile.write(head if head_only else head + response.body)

    def _write_stream(self, response: ApiResponse, stream: WatchStream) -> bool:
        """Send a watch; False if the watcher went away (the connection is then closed)."""
        self.wfile.write(self._head(response, "Transfer-Encoding: chunked", keep_alive=True))
        try:
            for chunk in stream:
                if chunk is None:
                    if _client_gone(self.connection):
                        return False
                    continue
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            return True
        except (BrokenPipeError, ConnectionResetError) as error:
            logger.debug("watcher went away: %s", error)
            return False
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()


def _keep_alive(version: str, connection: str) -> bool:
    tokens = {t.strip().lower() for t in connection.split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


class _HttpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], api: ApiServer, connection_timeout: float) -> None:
        self.api = api
        self.connection_timeout = connection_timeout
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Connection)

    def track(self, connection: socket.socket) -> None:
        with self._open_lock:
            self._open.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(connection)

    def close_connections(self) -> None:
        """End kept-alive connections too, so a stopped server answers nobody."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError as error:
                logger.debug("closing a connection: %s", error)


def _url_host(host: str) -> str:
    """The host to put in URLs: loopback for wildcard binds, brackets for IPv6."""
    if host in ("0.0.0.0", ""):
        return LOOPBACK
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class RunningServer:
    """A server answering on ``url`` until ``stop()`` (also a context manager)."""

    def __init__(
        self,
        backend: Backend,
        host: str,
        port: int,
        connection_timeout: float = CONNECTION_TIMEOUT_SECONDS,
    ) -> None:
        if not connection_timeout > 0:
            raise InvalidInputError(f"connection_timeout must be positive: {connection_timeout}")
        self.backend = backend
        self.api = ApiServer(backend)
        self._http = _HttpServer((host, port), self.api, connection_timeout)
        bound_host, bound_port = self._http.server_address[:2]
        self.host = str(bound_host)
        self.port = int(bound_port)
        self.url = f"http://{_url_host(self.host)}:{self.port}"
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

    @property
    def divergences(self) -> list[Any]:
        """Writes that did not match the recording (replay backends), oldest first."""
        found = getattr(self.backend, "divergences", None)
        return list(found()) if callable(found) else []

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
        self._http.close_connections()
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


def start_server(
    backend: Backend,
    host: str = LOOPBACK,
    port: int = 0,
    *,
    connection_timeout: float = CONNECTION_TIMEOUT_SECONDS,
) -> RunningServer:
    """Bind (port 0 picks a free port), start serving in a background thread, return at once.

    The socket is listening when this returns, so clients can connect immediately.
    ``connection_timeout`` bounds how long a connection may stay silent (seconds).
    """
    return RunningServer(backend, host, port, connection_timeout).start()
