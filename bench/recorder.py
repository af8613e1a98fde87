"""Recorder overhead benchmark: the operator's view, with and without recording.

Against a local API server in this process, in interleaved rounds (plain, recorded,
vcrpy, naive, plain, recorded, ...), it prints:

* per-call latency of ``read_namespaced_pod`` and ``patch_namespaced_pod``, median and p99:
  plain client, kreplay ``Recorder``, vcrpy in record mode, and a naive recorder that
  inserts and commits one SQLite row per call on the caller's thread (synchronous=FULL);
* watch events/s, plain and recorded, for typed streams and ``deserialize=False``.

Ratios are against the plain client measured in the same rounds.
Usage: ``python -m bench.recorder [--rounds N] [--calls N] [--events N]`` (as a module:
run as a script, this file would shadow the ``recorder`` package).
"""

from __future__ import annotations

import argparse
import json
import os
import socketserver
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

import kubernetes
import vcr

from recorder import Recorder

client: Any = kubernetes.client
watch: Any = kubernetes.watch


def pod(index: int) -> dict[str, Any]:
    """A realistic Pod in the API server's field order (kind, apiVersion, metadata first)."""
    name = f"web-{index % 50}"
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                     "resourceVersion": str(1000 + index),
                     "creationTimestamp": "2025-01-01T00:00:00Z",
                     "labels": {"app": "web", "pod-template-hash": "7d9f8c6b5"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": "web-7d9f8c6b5", "uid": "rs-uid",
                                          "controller": True}]},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                 "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}],
                 "nodeName": "node-1", "restartPolicy": "Always", "serviceAccountName": "default"},
        "status": {"phase": "Running", "podIP": "10.0.0.7", "hostIP": "192.168.1.10",
                   "conditions": [{"type": "Ready", "status": "True",
                                   "lastTransitionTime": "2025-01-01T00:00:05Z"}]},
    }  # fmt: skip


POD_BYTES = json.dumps(pod(0), separators=(",", ":")).encode()


def watch_body(events: int) -> bytes:
    """One HTTP chunk per event, as the API server flushes them."""
    parts = []
    for index in range(events):
        line = json.dumps({"type": "MODIFIED", "object": pod(index)}, separators=(",", ":"))
        data = line.encode() + b"\n"
        parts.append(b"%x\r\n%s\r\n" % (len(data), data))
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    watch_bytes = b""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if "watch=" in self.path:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            body = self.watch_bytes
            for start in range(0, len(body), 1 << 16):
                self.wfile.write(body[start : start + (1 << 16)])
            return
        # One write: headers and body in one segment, no delayed-ACK stall.
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
        self.wfile.write(head % len(POD_BYTES) + POD_BYTES)

    do_GET = do_PATCH = _answer


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def local_server(events: int) -> Iterator[str]:
    _Handler.watch_bytes = watch_body(events)
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def naive_instrument(api: Any, path: str) -> sqlite3.Connection:
    """The baseline: one INSERT and COMMIT per call, on the caller's thread."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS ops (ts INTEGER, method TEXT, url TEXT,"
                 " request TEXT, status INTEGER, response BLOB)")  # fmt: skip
    original = api.call_api

    def call_api(method: str, url: str, headers: Any = None, body: Any = None,
                 post: Any = None, _request_timeout: Any = None) -> Any:  # fmt: skip
        response = original(method, url, headers, body, post, _request_timeout)
        data = response.read()
        row = (time.time_ns(), method, url, json.dumps(body), response.status, data)
        conn.execute("INSERT INTO ops VALUES (?,?,?,?,?,?)", row)
        return response

    api.call_api = call_api
    return conn


def time_calls(call: Callable[[], Any], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def call_round(core: Any, calls: int) -> dict[str, list[float]]:
    patch = {"metadata": {"labels": {"touched": "yes"}}}
    return {
        "read": time_calls(lambda: core.read_namespaced_pod("web-0", "default"), calls),
        "patch": time_calls(lambda: core.patch_namespaced_pod("web-0", "default", patch), calls),
    }


def watch_rate(core: Any, events: int, deserialize: bool) -> float:
    start = time.perf_counter()
    seen = 0
    for _event in watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=60,
                                       deserialize=deserialize):  # fmt: skip
        seen += 1
    assert seen == events, seen
    return seen / (time.perf_counter() - start)


def p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99) - 1]


def run(rounds: int, calls: int, events: int, typed_events: int) -> None:
    workdir = tempfile.mkdtemp(prefix="kreplay-bench-")
    latencies: dict[str, dict[str, list[float]]] = {}
    rates: dict[str, list[float]] = {}
    with local_server(events) as url:
        configuration = client.Configuration(host=url)
        recorder = Recorder(os.path.join(workdir, "rec.db"), "bench", queue_max_items=200_000,
                            queue_max_bytes=256 << 20)  # fmt: skip
        plain = client.CoreV1Api(client.ApiClient(configuration))
        recorded = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
        naive = client.CoreV1Api(client.ApiClient(configuration))
        naive_conn = naive_instrument(naive.api_client, os.path.join(workdir, "naive.db"))
        vcr_recorder = vcr.VCR(record_mode="all")
        for api in (plain, recorded, naive):
            call_round(api, 50)  # warm connections and caches
        for index in range(rounds):
            for mode, api in (("plain", plain), ("kreplay", recorded), ("naive", naive)):
                for op, samples in call_round(api, calls).items():
                    latencies.setdefault(op, {}).setdefault(mode, []).extend(samples)
            cassette = os.path.join(workdir, f"cassette-{index}.yaml")
            with vcr_recorder.use_cassette(cassette):
                vcr_api = client.CoreV1Api(client.ApiClient(configuration))
                for op, samples in call_round(vcr_api, calls).items():
                    latencies[op].setdefault("vcrpy", []).extend(samples)
            for deserialize, count in ((False, events), (True, typed_events)):
                label = "raw" if not deserialize else "typed"
                _Handler.watch_bytes = watch_body(count)
                rates.setdefault(f"{label} plain", []).append(watch_rate(plain, count, deserialize))
                rates.setdefault(f"{label} kreplay", []).append(
                    watch_rate(recorded, count, deserialize)
                )
                recorder.flush(120)  # drain between rounds, outside the timed part
        stats = recorder.close(120)
        naive_conn.close()
    report(latencies, rates, stats, rounds, calls)


def paired_ratio(base: list[float], other: list[float], per_round: int) -> float:
    """The median of per-round ratios, each round's medians measured back to back."""
    ratios = [
        statistics.median(other[start : start + per_round])
        / statistics.median(base[start : start + per_round])
        for start in range(0, min(len(base), len(other)), per_round)
    ]
    return statistics.median(ratios)


def report(latencies: dict[str, dict[str, list[float]]], rates: dict[str, list[float]],
           stats: dict[str, Any], rounds: int, calls: int) -> None:  # fmt: skip
    print(f"per-call latency, {rounds} interleaved rounds x {calls} calls (microseconds)")
    print("  (paired: median over rounds of each round's median ratio; robust to load drift)")
    for op, modes in latencies.items():
        base = statistics.median(modes["plain"])
        for mode, samples in modes.items():
            median = statistics.median(samples)
            paired = paired_ratio(modes["plain"], samples, calls)
            print(f"  {op:6} {mode:8} median {median:8.1f}  p99 {p99(samples):8.1f}"
                  f"  median ratio vs plain {median / base:5.3f}"
                  f"  paired {paired:5.3f}")  # fmt: skip
    print("watch throughput (events/s, median of rounds)")
    for label in ("raw", "typed"):
        plain = statistics.median(rates[f"{label} plain"])
        recorded = statistics.median(rates[f"{label} kreplay"])
        paired = paired_ratio(rates[f"{label} plain"], rates[f"{label} kreplay"], 1)
        print(f"  {label:5} plain {plain:9.0f}  kreplay {recorded:9.0f}"
              f"  ratio {recorded / plain:5.3f}  paired {paired:5.3f}")  # fmt: skip
    print(f"recorder stats: {stats}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--typed-events", type=int, default=2_000)
    args = parser.parse_args()
    run(args.rounds, args.calls, args.events, args.typed_events)


if __name__ == "__main__":
    main()
