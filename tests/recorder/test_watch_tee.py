"""Watch streams recorded at the socket file: what the client used, no more, no less.

A small HTTP server here sends watch events in batches, each batch in one write (as an
API server does with a backlog), and sends the next batch only when the test says so.
So the test knows which events arrive in one socket read, without sleeping.
"""

from __future__ import annotations

import json
import socketserver
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import urllib3

import recorder.capture.pipeline as pipeline_module
from recorder import Recorder
from recorder.capture.messages import FRAMING_IDENTITY
from recorder.capture.piece_ring import PieceRing
from recorder.capture.socket_tee import READ_AHEAD, SocketTee
from recorder.errors import KreplayError
from tests.recorder.helpers import read_ops

client: Any = kubernetes.client
watch: Any = kubernetes.watch
_WAIT_S = 30.0


def event_line(index: int) -> bytes:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"i": str(index)},
           "metadata": {"name": f"cm-{index}", "namespace": "default",
                        "resourceVersion": str(100 + index)}}  # fmt: skip
    return json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n"


class PacedWatch:
    """Serves one watch: batch ``i`` is written once ``release[i]`` is set."""

    def __init__(self, batches: list[range], chunked: bool = True) -> None:
        self.batches = batches
        self.chunked = chunked
        self.release = [threading.Event() for _ in batches]
        self.release[0].set()

    def body(self, batch: range) -> bytes:
        lines = [event_line(index) for index in batch]
        if not self.chunked:
            return b"".join(lines)
        return b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in lines)

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if self.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Connection", "close")
        handler.end_headers()
        for ready, batch in zip(self.release, self.batches, strict=True):
            if not ready.wait(_WAIT_S):
                return
            handler.wfile.write(self.body(batch))
            handler.wfile.flush()
        if self.chunked:
            handler.wfile.write(b"0\r\n\r\n")
        handler.close_connection = True


@pytest.fixture
def paced_server() -> Iterator[Callable[..., str]]:
    servers: list[socketserver.TCPServer] = []

    def start(paced: PacedWatch, tls: ssl.SSLContext | None = None) -> str:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                paced.serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        scheme = "https" if tls is not None else "http"
        return f"{scheme}://127.0.0.1:{server.server_address[1]}"

    yield start
    for paced in servers:
        paced.shutdown()
        paced.server_close()


def watched(db: str) -> list[tuple[str, str]]:
    return [(op.name, op.event_type) for op in read_ops(db)[0] if op.verb == "watch"]


def watched_so_far(db: str) -> list[tuple[str, str]]:
    """What the file holds yet: the writer creates it when it first commits."""
    try:
        return watched(db)
    except KreplayError:
        return []


def names(indexes: range | list[int]) -> list[tuple[str, str]]:
    return [(f"cm-{index}", "ADDED") for index in indexes]


def tee_of(watcher: Any) -> SocketTee | None:
    """The socket tee the watcher's response is being read through, if any."""
    raw = getattr(watcher._resp, "response", watcher._resp)
    tee = getattr(raw._fp.fp.raw.__dict__.get("readinto"), "__self__", None)
    return tee if isinstance(tee, SocketTee) else None


def teed(watcher: Any) -> bool:
    return tee_of(watcher) is not None


def spy_on(
    monkeypatch: pytest.MonkeyPatch, owner: type, name: str, measure: Callable[[Any], Any] = int
) -> list[tuple[Any, bool]]:
    """Each call of the method ``name``, as it happens: ``measure`` of its first argument,
    and whether it returned something (not None). Only what is measured is kept: the
    socket file's buffer is not ours to hold on to."""
    calls: list[tuple[Any, bool]] = []
    method = getattr(owner, name)

    def spied(self: Any, first: Any, *rest: Any) -> Any:
        result = method(self, first, *rest)
        calls.append((measure(first), result is not None))
        return result

    monkeypatch.setattr(owner, name, spied)
    return calls


def stream(api: Any, on_event: Callable[[int, Any], bool], check_tee: bool = True) -> list[str]:
    """Watch (through the socket tee); ``on_event(count, watcher)`` returns True to stop."""
    core, watcher, seen = client.CoreV1Api(api), watch.Watch(), []
    for item in watcher.stream(core.list_namespaced_config_map, "default", deserialize=False):
        assert not check_tee or teed(watcher)
        seen.append(item["object"]["metadata"]["name"])
        if on_event(len(seen), watcher):
            watcher.stop()
    return seen


def test_the_mock_api_servers_watch_is_teed_at_the_socket_file(
    recorded: tuple[Recorder, Any], db: str
) -> None:
    recorder, api = recorded
    core = client.CoreV1Api(api)
    start = core.list_namespaced_config_map("default").metadata.resource_version
    for name in ("a", "b", "c"):
        core.create_namespaced_config_map("default", {"metadata": {"name": name}})
    watcher, tees = watch.Watch(), []
    for item in watcher.stream(core.list_namespaced_config_map, "default",
                               resource_version=start, deserialize=False):  # fmt: skip
        tees.append(teed(watcher))
        if item["object"]["metadata"]["name"] == "c":
            watcher.stop()
    recorder.close()
    assert tees == [True, True, True]
    assert watched(db) == [("a", "ADDED"), ("b", "ADDED"), ("c", "ADDED")]


@pytest.mark.parametrize("events", [10, 400])  # 400: more than the socket file buffers
def test_events_read_ahead_but_never_used_are_not_recorded(
    make_recorder: Callable[..., Recorder], paced_server: Callable[..., str], db: str,
    events: int,
) -> None:  # fmt: skip
    url = paced_server(PacedWatch([range(events)]))
    recorder = make_recorder()
    api = recorder.instrument(client.ApiClient(client.Configuration(host=url)))
    seen = stream(api, lambda count, _: count == 3)
    recorder.close()
    assert seen == ["cm-0", "cm-1", "cm-2"]
    assert watched(db) == names(range(3))


def test_events_while_disabled_are_skipped_and_recording_resumes_after(
    make_recorder: Callable[..., Recorder], paced_server: Callable[..., str], db: str
) -> None:
    paced = PacedWatch([range(3), range(3, 6), range(6, 9)])
    recorder = make_recorder()
    api = recorder.instrument(client.ApiClient(client.Configuration(host=paced_server(paced))))

    def on_event(count: int, _watcher: Any) -> bool:
        if count == 3:
            recorder.disable()
            paced.release[1].set()
        elif count == 6:
            recorder.enable()
            paced.release[2].set()
        return False

    assert len(stream(api, on_event)) == 9
    stats = recorder.close()
    assert watched(db) == names([0, 1, 2, 6, 7, 8])
    assert stats["failures"] == 0 and stats["dropped"] == 0


def test_a_body_without_chunked_framing(
    make_recorder: Callable[..., Recorder],
    paced_server: Callable[..., str],
    db: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    framings: list[int] = []
    install = SocketTee.install

    def spy(tee: SocketTee) -> None:
        framings.append(tee.framing)
        install(tee)

    monkeypatch.setattr(SocketTee, "install", spy)
    paced = PacedWatch([range(4)], chunked=False)
    recorder = make_recorder()
    api = recorder.instrument(client.ApiClient(client.Configuration(host=paced_server(paced))))
    # urllib3 reads such a body to its end before the client sees an event
    assert len(stream(api, lambda count, _: False, check_tee=False)) == 4
    recorder.close()
    assert framings == [FRAMING_IDENTITY]
    assert watched(db) == names(range(4))


def test_flush_writes_the_last_read_of_a_stream_still_open(
    make_recorder: Callable[..., Recorder], paced_server: Callable[..., str], db: str
) -> None:
    paced = PacedWatch([range(3), range(3, 4)])
    recorder = make_recorder()
    api = recorder.instrument(client.ApiClient(client.Configuration(host=paced_server(paced))))
    mid_stream: list[list[tuple[str, str]]] = []

    def on_event(count: int, _watcher: Any) -> bool:
        if count == 3:
            recorder.flush()
            mid_stream.append(watched(db))
            paced.release[1].set()
        return False

    assert len(stream(api, on_event)) == 4
    recorder.close()
    assert mid_stream == [names(range(3))]
    assert watched(db) == names(range(4))


def test_a_quiet_stream_settles_into_the_file_without_a_flush(
    make_recorder: Callable[..., Recorder],
    paced_server: Callable[..., str],
    db: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline_module, "SETTLE_AFTER_S", 0.0)
    paced = PacedWatch([range(2), range(2, 3)])
    recorder = make_recorder()
    api = recorder.instrument(client.ApiClient(client.Configuration(host=paced_server(paced))))
    settled: list[bool] = []

    def on_event(count: int, _watcher: Any) -> bool:
        if count == 2:
            settled.append(wait_until(lambda: watched_so_far(db) == names(range(2))))
            paced.release[1].set()
        return False

    assert len(stream(api, on_event)) == 3
    recorder.close()
    assert settled == [True]
    assert watched(db) == names(range(3))


def wait_until(condition: Callable[[], bool]) -> bool:
    """Poll until true or a generous deadline: the writer commits on its own schedule."""
    deadline = time.monotonic() + _WAIT_S
    pause = threading.Event()
    while time.monotonic() < deadline:
        if condition():
            return True
        pause.wait(0.02)
    return False


def test_a_tls_watch_is_teed_after_decryption(
    make_recorder: Callable[..., Recorder],
    paced_server: Callable[..., str],
    db: str,
    tmp_path: Path,
) -> None:
    """Clusters speak TLS: the socket file then reads decrypted bytes, which we record."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    url = paced_server(PacedWatch([range(6)]), tls=context)
    configuration = client.Configuration(host=url)
    configuration.ssl_ca_cert = str(cert)
    recorder = make_recorder()
    api = recorder.instrument(client.ApiClient(configuration))
    seen = stream(api, lambda count, _: count == 4)
    stats = recorder.close()
    assert seen == [f"cm-{index}" for index in range(4)]
    assert watched(db) == names(range(4)) and stats["failures"] == 0


def test_when_the_tee_cannot_start_the_chunk_tap_records_the_stream(
    make_recorder: Callable[..., Recorder],
    paced_server: Callable[..., str],
    db: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(_tee: SocketTee) -> bytes:
        raise RuntimeError("injected: the socket file cannot be peeked at")

    monkeypatch.setattr(SocketTee, "_buffered", broken)
    recorder = make_recorder()
    url = paced_server(PacedWatch([range(5)]))
    api = recorder.instrument(client.ApiClient(client.Configuration(host=url)))
    seen = stream(api, lambda count, _: count == 5, check_tee=False)
    stats = recorder.close()
    assert seen == [f"cm-{index}" for index in range(5)]
    assert watched(db) == names(range(5))
    assert stats["failures"] == 1 and "injected" in stats["last_error"]


class GarbledWatch(PacedWatch):
    """Good events, then bytes that are not chunked framing at all."""

    def body(self, batch: range) -> bytes:
        return super().body(batch) if batch.start == 0 else b"zz\r\nnot a chunk\r\n"


def test_garbage_on_the_wire_costs_only_itself(
    make_recorder: Callable[..., Recorder], paced_server: Callable[..., str], db: str
) -> None:
    paced = GarbledWatch([range(2), range(2, 3)])
    recorder = make_recorder()
    api = recorder.instrument(client.ApiClient(client.Configuration(host=paced_server(paced))))

    def on_event(count: int, _watcher: Any) -> bool:
        if count == 2:
            paced.release[1].set()
        return False

    with pytest.raises(urllib3.exceptions.ProtocolError):
        stream(api, on_event)  # the client itself cannot read what follows
    stats = recorder.close()
    assert watched(db) == names(range(2))
    assert stats["failures"] == 1 and "framing" in stats["last_error"]


class SlicedWatch(PacedWatch):
    """The whole stream in writes of ``size`` bytes: socket reads split events anywhere."""

    def __init__(self, events: int, size: int, chunked: bool) -> None:
        super().__init__([range(events)], chunked)
        self.size = size

    def body(self, batch: range) -> bytes:
        return super().body(batch) + (b"0\r\n\r\n" if self.chunked else b"")

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding" if self.chunked else "Connection",
                            "chunked" if self.chunked else "close")  # fmt: skip
        handler.end_headers()
        whole = self.body(self.batches[0])
        for start in range(0, len(whole), self.size):
            handler.wfile.write(whole[start : start + self.size])
            handler.wfile.flush()
        handler.close_connection = True


class SometimesFull:
    """The recorder's pipeline, except that every ``every``-th watch piece finds the queue
    full. Its ``max_bytes`` sends every piece past the tee's inlined check to ``put``."""

    max_bytes = -1

    def __init__(self, real: Any, every: int) -> None:
        self._real, self._every, self._pieces = real, every, iter(range(1 << 20))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def put(self, message: Any, size: int, drops: int = 1) -> bool:
        if len(message) == 3 and next(self._pieces) % self._every == 0:
            return False  # a watch piece: the tee counts the events it costs
        return bool(self._real.put(message, size, drops))


@pytest.mark.parametrize(
    ("size", "every", "chunked"),
    [(7, 2, True), (61, 3, True), (500, 2, True), (97, 2, False), (4000, 2, True)],
)
def test_dropped_reads_count_the_events_they_cost(
    make_recorder: Callable[..., Recorder],
    paced_server: Callable[..., str],
    db: str,
    size: int,
    every: int,
    chunked: bool,
) -> None:
    """Whatever the reads' boundaries: events recorded + events counted dropped = events."""
    recorder = make_recorder()
    recorder.pipeline = SometimesFull(recorder.pipeline, every)
    url = paced_server(SlicedWatch(40, size, chunked))
    api = recorder.instrument(client.ApiClient(client.Configuration(host=url)))
    seen = stream(api, lambda count, _: False, check_tee=False)
    stats = recorder.close()
    recorded = watched(db)
    assert seen == [f"cm-{index}" for index in range(40)]
    assert stats["dropped"] > 0 and stats["failures"] == 0
    assert len(recorded) + stats["dropped"] == 40
    assert recorded == sorted(recorded, key=lambda item: int(item[0][3:]))  # in order


def test_a_ring_much_smaller_than_the_stream_keeps_every_byte_in_order(
    monkeypatch: pytest.MonkeyPatch,
    make_recorder: Callable[..., Recorder],
    paced_server: Callable[..., str],
    db: str,
) -> None:
    """Socket reads wait in the stream's ring until the sender has written them: with a
    ring of four reads ahead against a 3 MB stream, it fills (reads then go to the
    client's buffer and are copied, or get a bytes of their own), wraps and starts over
    while the sender works, and no event is lost or garbled."""
    monkeypatch.setattr(pipeline_module, "RING_BYTES", 4 * READ_AHEAD)
    spaces = spy_on(monkeypatch, PieceRing, "space")
    recorder = make_recorder()
    url = paced_server(SlicedWatch(16_000, 3000, True))
    api = recorder.instrument(client.ApiClient(client.Configuration(host=url)))
    seen = stream(api, lambda count, _: False)
    stats = recorder.close()
    assert seen == [f"cm-{index}" for index in range(16_000)]
    assert watched(db) == names(range(16_000))
    assert stats["dropped"] == 0 and stats["failures"] == 0
    assert any(given for _, given in spaces) and not all(given for _, given in spaces)


def test_the_socket_is_read_ahead_and_handed_out_in_the_clients_sizes(
    monkeypatch: pytest.MonkeyPatch,
    make_recorder: Callable[..., Recorder],
    paced_server: Callable[..., str],
    db: str,
) -> None:
    """A socket read takes what has arrived, up to ``READ_AHEAD``, where the client's
    socket file asks for 8 KiB; the client gets it in the sizes it asks for."""
    keeps = spy_on(monkeypatch, PieceRing, "keep")
    hand_outs = spy_on(monkeypatch, SocketTee, "_hand_out", len)
    recorder = make_recorder()
    url = paced_server(SlicedWatch(3000, READ_AHEAD * 4, True))
    api = recorder.instrument(client.ApiClient(client.Configuration(host=url)))
    assert stream(api, lambda count, _: False) == [f"cm-{index}" for index in range(3000)]
    recorder.close()
    assert watched(db) == names(range(3000))
    kept, asked = [count for count, _ in keeps], [size for size, _ in hand_outs]
    assert max(kept) > max(asked) and len(asked) > 2 * len(kept)


def test_a_finished_streams_ring_serves_the_next_stream(
    monkeypatch: pytest.MonkeyPatch,
    make_recorder: Callable[..., Recorder],
    paced_server: Callable[..., str],
    db: str,
) -> None:
    """A new ring would fault its pages in again: the next watch takes the last one's.
    Once unused for a while, it keeps only its first pages."""
    monkeypatch.setattr(pipeline_module, "TRIM_AFTER_S", 3600.0)
    recorder = make_recorder()
    api = recorder.instrument(client.ApiClient(client.Configuration(host=paced_server(
        SlicedWatch(3, 1000, True)))))  # fmt: skip
    rings: list[PieceRing] = []

    def note_ring(count: int, watcher: Any) -> bool:
        tee = tee_of(watcher)
        assert tee is not None
        rings.append(tee.ring)
        return False

    for _ in range(2):
        assert stream(api, note_ring) == ["cm-0", "cm-1", "cm-2"]
    assert len(rings) == 6 and all(ring is rings[0] for ring in rings)
    recorder.flush()
    assert rings[0].trimmed_at == 0  # a stream may start again at once: pages kept
    monkeypatch.setattr(pipeline_module, "TRIM_AFTER_S", 0.0)
    assert wait_until(lambda: rings[0].trimmed_at == rings[0].written > 0)
    recorder.close()
    assert watched(db) == names(range(3)) * 2


def test_a_socket_timeout_reaches_the_client_as_it_would_unrecorded(
    make_recorder: Callable[..., Recorder], paced_server: Callable[..., str], db: str
) -> None:
    """The tee reads the socket only when it holds nothing the client has not had, so a
    read that times out raises where it would unrecorded, and what came before is kept."""
    recorder, outcomes = make_recorder(), []
    for record in (False, True):
        paced = PacedWatch([range(5), range(5, 10)])  # the second batch never comes
        api = client.ApiClient(client.Configuration(host=paced_server(paced)))
        core = client.CoreV1Api(recorder.instrument(api) if record else api)
        seen: list[str] = []
        with pytest.raises(urllib3.exceptions.HTTPError) as raised:
            for item in watch.Watch().stream(core.list_namespaced_config_map, "default",
                                             deserialize=False, _request_timeout=0.5):  # fmt: skip
                seen.append(item["object"]["metadata"]["name"])
        paced.release[1].set()  # let the server's thread finish
        outcomes.append((seen, type(raised.value)))
    stats = recorder.close()
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == [f"cm-{i}" for i in range(5)]
    assert watched(db) == names(range(5)) and stats["failures"] == 0
