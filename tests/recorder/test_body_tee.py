"""Response bodies recorded at http.client's socket file: every framing an API server uses.

A small server answers each GET with one ConfigMap, framed as the path asks: with a
Content-Length, chunked in small chunks (a real API server chunks any answer over a few
KiB), gzip-encoded, or delimited by closing the connection. The recording must hold the
body the client decoded, whichever way the client read it.
"""

from __future__ import annotations

import gzip
import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import kubernetes
import pytest

from recorder import Recorder
from recorder.capture.body_tee import BodyTee, unread
from tests.recorder.helpers import read_ops

client: Any = kubernetes.client


def config_map(name: str) -> bytes:
    document = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "default", "resourceVersion": "42"},
                "data": {"blob": "x" * 6000, "quote": "\r\n0\r\n"}}  # fmt: skip
    return json.dumps(document).encode()


def chunked(body: bytes, size: int) -> bytes:
    pieces = [body[start : start + size] for start in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        framing, name = self.path.rstrip("/").split("/")[-2:]
        body = config_map(name)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(chunked(body, 1000))
            return
        if framing == "gzip":
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        if framing == "close":
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def framed_server() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def get(api: Any, framing: str, name: str) -> Any:
    """The client's own seam, as its generated methods call it: the body is not read yet."""
    path = f"/api/v1/namespaces/default/{framing}/{name}"
    return api.call_api("GET", api.configuration.host + path, {"Accept": "application/json"})


@pytest.mark.parametrize("framing", ["length", "chunked", "gzip", "close"])
def test_the_body_the_client_decoded_is_recorded(
    make_recorder: Any, framed_server: str, db: str, framing: str
) -> None:
    recorder: Recorder = make_recorder()
    api = recorder.instrument(client.ApiClient(client.Configuration(host=framed_server)))
    whole = get(api, framing, "whole")
    whole.read()
    streamed = get(api, framing, "streamed").response
    pieces = list(streamed.stream(700))  # urllib3 reads in pieces (readinto, chunk by chunk)
    recorder.close()

    assert (whole.data, b"".join(pieces)) == (config_map("whole"), config_map("streamed"))
    _ops, _requests, responses = read_ops(db)
    assert responses == [json.loads(config_map("whole")), json.loads(config_map("streamed"))]


def test_bodies_an_api_server_frames_are_teed_at_the_socket_file(
    make_recorder: Any, framed_server: str
) -> None:
    recorder: Recorder = make_recorder()
    api = recorder.instrument(client.ApiClient(client.Configuration(host=framed_server)))
    for framing in ("length", "chunked", "close"):
        response = get(api, framing, "teed")
        assert isinstance(response.response._fp.fp, BodyTee)
        assert "read" not in vars(response.response)  # urllib3's response is left alone
        response.read()
    encoded = get(api, "gzip", "tapped")
    assert not isinstance(encoded.response._fp.fp, BodyTee)  # urllib3 decodes: tap there
    encoded.read()
    recorder.close()


def test_a_body_never_read_is_recorded_at_the_next_call_and_at_close(
    make_recorder: Any, framed_server: str, db: str
) -> None:
    recorder: Recorder = make_recorder()
    api = recorder.instrument(client.ApiClient(client.Configuration(host=framed_server)))
    get(api, "chunked", "ignored")  # call_api hands back the response unread
    get(api, "length", "next").read()
    other = threading.Thread(target=get, args=(api, "length", "other-thread"))
    other.start()
    other.join(30)
    recorder.close()
    assert not unread

    ops, _requests, responses = read_ops(db)
    assert [op.name for op in ops] == ["ignored", "next", "other-thread"]
    assert responses[0] is None and responses[2] is None  # never read: no body, still a call
    assert responses[1]["metadata"]["name"] == "next"
