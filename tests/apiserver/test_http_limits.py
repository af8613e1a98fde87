"""The HTTP layer's limits: bodies over the size limit get 413, stalled connections are closed."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from kreplay_dap.apiserver import FakeBackend, RunningServer, start_server
from kreplay_dap.apiserver.resolver import MAX_BODY_BYTES

CM = "/api/v1/namespaces/default/configmaps"
CLIENT_DEADLINE_SECONDS = 30  # a safety net for a server that never answers; never reached


@pytest.fixture
def impatient_server() -> Iterator[RunningServer]:
    """A server closing connections silent for a fraction of a second."""
    with start_server(FakeBackend(), connection_timeout=0.2) as running:
        yield running


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded reads)."""
    received = b""
    for _read in range(1_000):
        chunk = connection.recv(65_536)
        if not chunk:
            return received
        received += chunk
    raise AssertionError("the server kept the connection open")


def test_a_body_over_the_limit_is_request_entity_too_large(server: RunningServer) -> None:
    with socket.create_connection((server.host, server.port), CLIENT_DEADLINE_SECONDS) as sock:
        head = (f"POST {CM} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n")  # fmt: skip
        sock.sendall(head.encode())
        sock.shutdown(socket.SHUT_WR)  # the body never comes: the length alone is refused
        answer = read_until_closed(sock)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 Payload Too Large"
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert (body["kind"], body["code"], body["reason"]) == ("Status", 413, "RequestEntityTooLarge")
    assert body["message"] == f"Request entity too large: limit is {MAX_BODY_BYTES}"


def test_a_chunked_body_over_the_limit_is_request_entity_too_large(server: RunningServer) -> None:
    with socket.create_connection((server.host, server.port), CLIENT_DEADLINE_SECONDS) as sock:
        head = f"POST {CM} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        sock.sendall(head.encode() + b"%x\r\n" % (MAX_BODY_BYTES + 1))  # a chunk too large
        sock.shutdown(socket.SHUT_WR)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413 Payload Too Large\r\n")
    assert b'"reason":"RequestEntityTooLarge"' in answer


def test_a_stalled_partial_request_is_closed(impatient_server: RunningServer) -> None:
    address = (impatient_server.host, impatient_server.port)
    with socket.create_connection(address, CLIENT_DEADLINE_SECONDS) as stalled:
        stalled.sendall(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n")  # no blank line
        assert read_until_closed(stalled) == b""
    with socket.create_connection(address, CLIENT_DEADLINE_SECONDS) as short_body:
        short_body.sendall(
            f"POST {CM} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{".encode()
        )
        assert read_until_closed(short_body) == b""


def test_an_idle_kept_alive_connection_is_closed(impatient_server: RunningServer) -> None:
    address = (impatient_server.host, impatient_server.port)
    with socket.create_connection(address, CLIENT_DEADLINE_SECONDS) as idle:
        idle.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_until_closed(idle)  # answered, then closed once idle
    assert answer.startswith(b"HTTP/1.1 200 OK") and b'"gitVersion"' in answer
