"""Recorder overhead benchmark: the operator's view, with and without recording.

Against a local API server in this process, in interleaved rounds (``--blocks`` groups of
one short block of calls per client: plain, recorded, and a second plain client, in
rotating order; then naive and vcrpy, then ``--streams`` short watch streams per client,
plain and recorded in turn), it prints:

* per-call latency of ``read_namespaced_pod`` and ``patch_namespaced_pod``, median and p99:
  plain client, kreplay ``Recorder``, vcrpy in record mode, and a naive recorder that
  inserts and commits one SQLite row per call on the caller's thread (synchronous=FULL);
* watch events/s, plain and recorded, for typed streams and ``deserialize=False``;
* the CPU time of the caller's thread per call or event, plain and recorded, and the
  recorder's own CPU: its sender thread (in this process) and its writer process.

Ratios are against the plain client measured in the same rounds; the paired ratio (the
median of per-block ratios, each against the plain block of its group, with their IQR and
a bootstrap 90% interval for that median) is the one to trust on a loaded machine, and the
one the targets are judged by. Blocks are short (``--calls`` 20 reads and 20 patches,
about 40 ms), so the host's drift cancels out of each ratio; the second plain client's
paired ratio shows what is left of it (the noise floor). The six orders of the three
clients come in turn (``BLOCK_ORDERS``), so what a block leaves behind (the recorder's
next batch, the caches' state) falls evenly on the three clients' blocks, so the sender
thread's work cancels out of the paired ratio (its CPU is printed apart). Each watch
stream is drained to the file before the next starts, so a recorded stream bears the
writer process's concurrent work and a plain one none of it. The server sends each
stream as fast as the socket takes it, so the recorder's socket reads (up to 64 KiB)
find a backlog, and a recorded stream makes fewer system calls than a plain one, whose
socket file reads 8 KiB at a time; the caller thread's CPU per event shows the net.
Last, the writer process's work alone, in this process: CPU per call and per watch event
through ``Sink.handle`` (least of three runs; steadier than the ratios when other work
shares the cores), for watch events both as the recorder sends them now (socket reads of
64 KiB, as it makes them with a backlog, with their HTTP chunk framing) and as urllib3
yields them (the fallback tap).
The payload is a Pod as an API server returns it (``--pod cluster``, the default: about
5 KB, plain costs close to those the recorder issue states) or a trimmed one (``--pod
small``, about 750 bytes: the client is then several times faster, the harder case); the
first line prints the client's model deserialization of one, to set against the issue's.
Usage: ``python -m bench.recorder [--rounds N] [--blocks N] [--calls N] [--events N]
[--streams N] [--pod SHAPE]``
(as a module: run as a script, this file would shadow the ``recorder`` package).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
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
from recorder.capture import messages
from recorder.capture.sink import Sink, SinkConfig
from recorder.capture.socket_tee import READ_AHEAD

from .pod_shapes import SHAPES

client: Any = kubernetes.client
watch: Any = kubernetes.watch


PodShape = Callable[[int], dict[str, Any]]


def compact(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def watch_body(events: int, make_pod: PodShape) -> bytes:
    """One HTTP chunk per event, as the API server flushes them."""
    parts = []
    for index in range(events):
        line = json.dumps({"type": "MODIFIED", "object": make_pod(index)}, separators=(",", ":"))
        data = line.encode() + b"\n"
        parts.append(b"%x\r\n%s\r\n" % (len(data), data))
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    watch_bytes = b""
    pod_bytes = b""

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
        self.wfile.write(head % len(self.pod_bytes) + self.pod_bytes)

    do_GET = do_PATCH = _answer


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def local_server(events: int, make_pod: PodShape) -> Iterator[str]:
    _Handler.watch_bytes = watch_body(events, make_pod)
    _Handler.pod_bytes = compact(make_pod(0))
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


class Results:
    """Samples per operation and mode, and the caller thread's CPU per operation."""

    def __init__(self) -> None:
        self.latencies: dict[str, dict[str, list[float]]] = {}
        self.rates: dict[str, list[float]] = {}
        self.cpu_us: dict[str, list[float]] = {}  # "read plain" -> per-round us per call
        self.faults: dict[str, list[float]] = {}  # "raw plain" -> the process's, per event

    def add_calls(self, mode: str, samples: dict[str, list[float]], cpu_s: float) -> None:
        for op, values in samples.items():
            self.latencies.setdefault(op, {}).setdefault(mode, []).extend(values)
        calls = sum(len(values) for values in samples.values())
        self.cpu_us.setdefault(f"calls {mode}", []).append(cpu_s / calls * 1e6)

    def add_watch(
        self, label: str, mode: str, rate: float, events: int, costs: tuple[float, int]
    ) -> None:
        """``costs``: the caller thread's CPU seconds and the process's page faults."""
        self.rates.setdefault(f"{label} {mode}", []).append(rate)
        self.cpu_us.setdefault(f"{label} {mode}", []).append(costs[0] / events * 1e6)
        self.faults.setdefault(f"{label} {mode}", []).append(costs[1] / events)


def sender_thread_cpu() -> float:
    """CPU seconds of the recorder's sender thread (it shares this process's GIL)."""
    for thread in threading.enumerate():
        if thread.name == "kreplay-recorder" and thread.ident is not None:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return 0.0


def measured_calls(results: Results, mode: str, api: Any, calls: int) -> None:
    start = time.thread_time()
    samples = call_round(api, calls)
    results.add_calls(mode, samples, time.thread_time() - start)


def measured_watch(results: Results, mode: str, api: Any, events: int, deserialize: bool) -> None:
    label = "typed" if deserialize else "raw"
    faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.thread_time()
    rate = watch_rate(api, events, deserialize)
    cpu_s = time.thread_time() - start
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    results.add_watch(label, mode, rate, events, (cpu_s, faults))


# The six orders of the three interleaved clients, each starting with the client the one
# before it ended with: in a cycle, every client follows every client (itself included)
# exactly twice, so what a block leaves behind falls evenly on the three.
BLOCK_ORDERS = ((0, 1, 2), (2, 0, 1), (1, 2, 0), (0, 2, 1), (1, 0, 2), (2, 1, 0))


def measured_blocks(
    results: Results, clients: list[tuple[str, Any]], calls: int, groups: tuple[int, int]
) -> None:
    """``groups[1]`` groups of one block of ``calls`` calls per client, the clients' order
    rotating through ``BLOCK_ORDERS`` (from group number ``groups[0]``)."""
    first, count = groups
    for index in range(first, first + count):
        for position in BLOCK_ORDERS[index % len(BLOCK_ORDERS)]:
            mode, api = clients[position]
            measured_calls(results, mode, api, calls)


def run(
    rounds: int, calls: int, watches: tuple[int, int, int], make_pod: PodShape, blocks: int
) -> None:
    events, typed_events, streams = watches
    workdir = tempfile.mkdtemp(prefix="kreplay-bench-")
    results = Results()
    with local_server(events, make_pod) as url:
        configuration = client.Configuration(host=url)
        recorder = Recorder(os.path.join(workdir, "rec.db"), "bench")  # production defaults
        plain = client.CoreV1Api(client.ApiClient(configuration))
        recorded = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
        clients = [("plain", plain), ("kreplay", recorded),
                   ("plain2", client.CoreV1Api(client.ApiClient(configuration)))]  # fmt: skip
        naive = client.CoreV1Api(client.ApiClient(configuration))
        naive_conn = naive_instrument(naive.api_client, os.path.join(workdir, "naive.db"))
        vcr_recorder = vcr.VCR(record_mode="all")
        for api in (*(api for _, api in clients), naive):
            call_round(api, 50)  # warm connections and caches
        recorder.flush(120)
        pair = (("plain", plain), ("kreplay", recorded))
        sender_cpu = {"calls": 0.0, "events": 0.0}
        counts = {"calls": 0, "events": 0}
        for index in range(rounds):
            started = sender_thread_cpu()
            measured_blocks(results, clients, calls, (index * blocks, blocks))
            # The writer drains outside the timed parts before anything else runs.
            recorder.flush(120)
            sender_cpu["calls"] += sender_thread_cpu() - started
            counts["calls"] += 2 * calls * blocks
            measured_calls(results, "naive", naive, calls)
            cassette = os.path.join(workdir, f"cassette-{index}.yaml")
            with vcr_recorder.use_cassette(cassette):
                vcr_api = client.CoreV1Api(client.ApiClient(configuration))
                results.add_calls("vcrpy", call_round(vcr_api, calls), 0.0)
            for deserialize, count in ((False, events), (True, typed_events)):
                _Handler.watch_bytes = watch_body(count // streams, make_pod)
                started = sender_thread_cpu()
                for stream in range(streams):  # plain and recorded in turn: P K K P P K ...
                    for mode, api in pair if stream % 2 == 0 else pair[::-1]:
                        measured_watch(results, mode, api, count // streams, deserialize)
                        recorder.flush(120)  # the next stream starts with the writer idle
                sender_cpu["events"] += sender_thread_cpu() - started
                counts["events"] += count // streams * streams
        stats = recorder.close(120)
        naive_conn.close()
    writer_cpu = sum(os.times()[2:4])  # the writer process, reaped by close()
    report(results, stats, rounds, calls, blocks)
    print(f"operator side, sender thread (CPU; it holds the GIL only in part):"
          f" {sender_cpu['calls'] / counts['calls'] * 1e6:.2f} us per recorded call,"
          f" {sender_cpu['events'] / counts['events'] * 1e6:.2f} us per watch event")  # fmt: skip
    total = counts["calls"] + counts["events"]
    print(f"writer process (other core, SCHED_IDLE): {writer_cpu / total * 1e6:.1f}"
          " us CPU per recorded call or event")  # fmt: skip


def per_round_ratios(
    base: list[float], other: list[float], base_size: int, other_size: int = 0
) -> list[float]:
    """Each round's median ratio: ``other``'s block of ``other_size`` samples (default: as
    many as ``base``'s) against ``base``'s block of ``base_size`` measured beside it."""
    other_size = other_size or base_size
    count = min(len(base) // base_size, len(other) // other_size)
    return [
        statistics.median(other[index * other_size : (index + 1) * other_size])
        / statistics.median(base[index * base_size : (index + 1) * base_size])
        for index in range(count)
    ]


BOOTSTRAP_SAMPLES = 2000


def median_interval(ratios: list[float], confidence: float = 0.9) -> tuple[float, float]:
    """A bootstrap interval for the median of ``ratios`` (resampled with a fixed seed, so
    the same figures print the same interval)."""
    rng = random.Random(0)
    medians = sorted(
        statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(BOOTSTRAP_SAMPLES)
    )
    tail = int(BOOTSTRAP_SAMPLES * (1 - confidence) / 2)
    return medians[tail], medians[-tail - 1]


def paired(ratios: list[float]) -> str:
    """The median of per-round ratios, the middle half of them, and a 90% interval for the
    median (robust to load drift)."""
    if len(ratios) < 4:
        return f"paired {statistics.median(ratios):5.3f}"
    low, _, high = statistics.quantiles(ratios, n=4)
    ci_low, ci_high = median_interval(ratios)
    return (
        f"paired {statistics.median(ratios):5.3f} [IQR {low:5.3f}-{high:5.3f},"
        f" 90% CI {ci_low:5.3f}-{ci_high:5.3f}]"
    )


def report(results: Results, stats: dict[str, Any], rounds: int, calls: int, blocks: int) -> None:
    print(f"per-call latency, {rounds} interleaved rounds, each {blocks} plain, kreplay and"
          f" plain2 blocks, 1 naive and 1 vcrpy block, of {calls} calls (microseconds)"
          )  # fmt: skip
    print("  (paired: median over blocks of each block's median ratio to the plain one of its"
          " group, the IQR of those, and a bootstrap interval for that median; plain2, a second"
          " plain client, shows the noise floor)")  # fmt: skip
    for op, modes in results.latencies.items():
        base = statistics.median(modes["plain"])
        for mode, samples in modes.items():
            median = statistics.median(samples)
            sizes = (calls, calls) if mode in INTERLEAVED else (calls * blocks, calls)
            ratios = per_round_ratios(modes["plain"], samples, *sizes)
            print(f"  {op:6} {mode:8} median {median:8.1f}  p99 {p99(samples):8.1f}"
                  f"  median ratio vs plain {median / base:5.3f}  {paired(ratios)}")  # fmt: skip
    print("watch throughput (events/s, median of streams; paired: each recorded stream"
          " against the plain one of its pair)")  # fmt: skip
    for label in ("raw", "typed"):
        plain = statistics.median(results.rates[f"{label} plain"])
        recorded = statistics.median(results.rates[f"{label} kreplay"])
        ratios = per_round_ratios(results.rates[f"{label} plain"],
                                  results.rates[f"{label} kreplay"], 1)  # fmt: skip
        print(f"  {label:5} plain {plain:9.0f}  kreplay {recorded:9.0f}"
              f"  ratio {recorded / plain:5.3f}  {paired(ratios)}")  # fmt: skip
    cpu_report(results)
    print(f"recorder stats: {stats}")
    targets(results, calls)
    if stats.get("dropped") or stats.get("failures"):
        print("WARNING: the recording is incomplete; the recorded figures flatter the recorder")


INTERLEAVED = ("plain", "kreplay", "plain2")


def cpu_report(results: Results) -> None:
    print("caller thread CPU (us per call or event, median of blocks; server runs elsewhere)")
    for label in ("calls", "raw", "typed"):
        plain = statistics.median(results.cpu_us[f"{label} plain"])
        recorded = statistics.median(results.cpu_us[f"{label} kreplay"])
        extra = statistics.median(
            recorded_cpu - plain_cpu
            for plain_cpu, recorded_cpu in zip(
                results.cpu_us[f"{label} plain"], results.cpu_us[f"{label} kreplay"], strict=True
            )
        )
        print(f"  {label:5} plain {plain:8.2f}  kreplay {recorded:8.2f}"
              f"  paired extra {extra:+6.2f}")  # fmt: skip
    print("page faults of the whole process per watch event (mean of streams)")
    for label in ("raw", "typed"):
        plain, recorded = (statistics.fmean(results.faults[f"{label} {mode}"])
                           for mode in ("plain", "kreplay"))  # fmt: skip
        print(f"  {label:5} plain {plain:8.3f}  kreplay {recorded:8.3f}")


def targets(results: Results, calls: int) -> None:
    """The recorder issue's targets, judged by the paired ratio (the median over blocks,
    each against the plain block of its group or pair) and its 90% interval."""
    print("targets (recorder issue): calls <= 1.05x plain, watches >= 0.95x plain")
    for op in ("read", "patch"):
        ratios = per_round_ratios(results.latencies[op]["plain"],
                                  results.latencies[op]["plain2"], calls)  # fmt: skip
        low, high = median_interval(ratios)
        print(f"  {op:11} noise floor: plain2/plain paired {statistics.median(ratios):5.3f}"
              f" (90% CI {low:5.3f}-{high:5.3f})")  # fmt: skip
    checks: list[tuple[str, list[float], list[float], int, bool]] = [
        (op, results.latencies[op]["plain"], results.latencies[op]["kreplay"], calls, False)
        for op in ("read", "patch")
    ]
    checks += [
        (f"{label} watch", results.rates[f"{label} plain"], results.rates[f"{label} kreplay"],
         1, True)
        for label in ("raw", "typed")
    ]  # fmt: skip
    for name, plain, recorded, per_round, higher_is_better in checks:
        overall = statistics.median(recorded) / statistics.median(plain)
        ratios = per_round_ratios(plain, recorded, per_round)
        pair = statistics.median(ratios)
        low, high = median_interval(ratios)
        worst = low if higher_is_better else high
        verdict = ("met" if _meets(worst, higher_is_better) else
                   f"met by the median; its 90% CI reaches {worst:5.3f}"
                   ) if _meets(pair, higher_is_better) else "not met"  # fmt: skip
        print(f"  {name:11} paired {pair:5.3f} (90% CI {low:5.3f}-{high:5.3f};"
              f" ratio of the overall medians {overall:5.3f}): {verdict}")  # fmt: skip


def _meets(ratio: float, higher_is_better: bool) -> bool:
    return ratio >= 0.95 if higher_is_better else ratio <= 1.05


_SITE = (("operator.py", 40, "reconcile"), ("operator.py", 12, "main"))
_POD_URL = "http://127.0.0.1:1/api/v1/namespaces/default/pods/web-0"


def socket_reads(count: int, make_pod: PodShape) -> list[bytes]:
    """A watch stream of ``count`` events as the socket tee's reads of its chunked body."""
    wire = watch_body(count, make_pod)
    return [wire[start : start + READ_AHEAD] for start in range(0, len(wire), READ_AHEAD)]


def writer_frames(count: int, watch: str, make_pod: PodShape) -> list[bytes]:
    """Frames as the sender writes them: reads and patches, or one watch stream's events
    (``watch``: "" for calls, "chunks" as urllib3 yields them, "reads" of the socket)."""
    if watch == "reads":
        reads = [(1, index, piece) for index, piece in enumerate(socket_reads(count, make_pod))]
        return [messages.encode_frame(reads[start : start + 150])
                for start in range(0, len(reads), 150)]  # fmt: skip
    frames: list[bytes] = []
    pod_bytes = compact(make_pod(0))
    for start in range(0, count, 1000):
        batch: list[tuple[Any, ...]] = []
        for index in range(start, min(count, start + 1000)):
            if watch:
                line = {"type": "MODIFIED", "object": make_pod(index)}
                batch.append((1, index, compact(line) + b"\n"))
            elif index % 2:
                batch.append((messages.CALL, index, 300, "GET", _POD_URL, "", None, 200, "OK",
                              pod_bytes, "", "", "MainThread", _SITE, 0))  # fmt: skip
            else:
                patch = {"metadata": {"labels": {"touched": "yes"}}}
                batch.append((messages.CALL, index, 300, "PATCH", _POD_URL,
                              "application/strategic-merge-patch+json", patch, 200, "OK",
                              pod_bytes, "", "", "MainThread", _SITE, 0))  # fmt: skip
        frames.append(messages.encode_frame(batch))
    return frames


def writer_cpu_us(workdir: str, count: int, watch: str, make_pod: PodShape) -> float:
    """The writer process's CPU per item (decode, convert, store), least of three runs."""
    best = float("inf")
    frames = writer_frames(count, watch, make_pod)
    framing = messages.FRAMING_CHUNKED if watch == "reads" else messages.FRAMING_DECODED
    for run_index in range(3):
        path = os.path.join(workdir, f"writer-{watch}-{run_index}.db")
        sink = Sink(SinkConfig(path=path, session_id="bench", redaction_key="00" * 32))
        opened = (messages.WATCH_OPEN, 1, 0, "/api/v1/namespaces/default/pods?watch=true",
                  "MainThread", _SITE, 0, framing)  # fmt: skip
        sink.handle([opened])
        start = time.process_time()
        for frame in frames:
            sink.handle(messages.read_frame(io.BytesIO(frame)) or [])
        best = min(best, time.process_time() - start)
        sink.handle([(messages.END, 0)])
    return best / count * 1e6


def deserialize_us(make_pod: PodShape) -> float:
    """The client's model deserialization of one Pod (JSON already parsed), median of 5."""
    document = json.loads(compact(make_pod(0)))
    deserialize = client.ApiClient()._ApiClient__deserialize
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(200):
            deserialize(document, "V1Pod")
        samples.append((time.perf_counter() - start) / 200 * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=24)
    parser.add_argument("--calls", type=int, default=20, help="reads and patches a block")
    parser.add_argument(
        "--blocks", type=int, default=24, help="blocks of each interleaved client a round"
    )
    parser.add_argument("--events", type=int, default=20_000, help="raw watch events a round")
    parser.add_argument("--typed-events", type=int, default=4_000)
    parser.add_argument(
        "--streams", type=int, default=4, help="watch streams of each client a round"
    )
    parser.add_argument(
        "--pod",
        choices=sorted(SHAPES),
        default="cluster",
        help="payload: a Pod as an API server returns it, or a trimmed one",
    )
    args = parser.parse_args()
    make_pod = SHAPES[args.pod]
    print(f"payload: {args.pod} Pod, {len(compact(make_pod(0)))} bytes of JSON; the client's"
          f" model deserialization takes {deserialize_us(make_pod):.0f} us a Pod (the recorder"
          " issue's conditions: about 230 us, with a plain read of about 0.9 ms)")  # fmt: skip
    watches = (args.events, args.typed_events, max(1, args.streams))
    run(args.rounds, args.calls, watches, make_pod, max(1, args.blocks))
    workdir = tempfile.mkdtemp(prefix="kreplay-bench-writer-")
    call_us = writer_cpu_us(workdir, 4000, "", make_pod)
    read_us = writer_cpu_us(workdir, 10000, "reads", make_pod)
    chunk_us = writer_cpu_us(workdir, 10000, "chunks", make_pod)
    print(f"writer process work alone (this process, least of 3 runs): {call_us:.1f} us CPU"
          f" per call; per watch event: {read_us:.1f} us from socket reads (chunked),"
          f" {chunk_us:.1f} us from urllib3's chunks")  # fmt: skip


if __name__ == "__main__":
    main()
