"""Mock API server benchmark: get round trips/s, watch events/s to 1 and to 50 watchers.

Each server runs in its own subprocess (as a real operator and API server would), and the
client side is the official ``kubernetes`` Python client in this process. Every figure is a
median over rounds, printed with its ratio to a baseline measured here in the same run: a
bare stdlib ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive, TCP_NODELAY) that answers every
GET with a fixed ConfigMap body, and every watch with the same pre-encoded event lines.

Watch figures read with ``watch.Watch().stream(..., deserialize=False)`` (events parsed as
JSON dicts, not turned into model objects), so they measure delivery, not model building.
Watchers start from resourceVersion 1 against a server whose event log was filled in
advance, so the server streams as fast as the watcher reads.

Usage: ``python -m bench.apiserver [--gets N] [--events N] [--watchers N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes

client: Any = kubernetes.client
watch: Any = kubernetes.watch
REPO_ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "default"
TARGET_GETS = 2_000
TARGET_EVENTS = 20_000


def configmap(name: str, revision: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "bench"}},
            "data": {"revision": str(revision), "payload": "x" * 120}}  # fmt: skip


# -- servers (run in subprocesses) -----------------------------------------------------------
def serve_kreplay(events: int) -> None:
    from kreplay_dap.apiserver import ApiRequest, ClusterState, FakeBackend, start_server

    backend = FakeBackend(ClusterState(event_log_size=events + 1_000))
    server = start_server(backend)
    path = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
    names = [f"cm-{i}" for i in range(min(1_000, events))]
    for index in range(events):
        name = names[index % len(names)]
        method, target = ("POST", path) if index < len(names) else ("PUT", f"{path}/{name}")
        request = ApiRequest(method, target, body=json.dumps(configmap(name, index)).encode())
        assert server.api.handle(request).status in (200, 201)
    print(server.url, flush=True)
    threading.Event().wait()


class _BaselineHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    get_body = b""
    watch_chunks: list[bytes] = []

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        if "watch=" not in self.path:
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            )
            self.wfile.write(head % len(self.get_body) + self.get_body)
            return
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        try:
            for chunk in self.watch_chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True  # the watcher stopped reading: expected


def serve_baseline(events: int) -> None:
    obj = configmap("cm-0", 0)
    obj["metadata"].update(uid="u", resourceVersion="1", creationTimestamp="2024-01-01T00:00:00Z")
    _BaselineHandler.get_body = json.dumps(obj, separators=(",", ":")).encode()
    line = b'{"type":"MODIFIED","object":%s}\n' % _BaselineHandler.get_body
    _BaselineHandler.watch_chunks = [line * 512 for _ in range(events // 512)] + [
        line * (events % 512)
    ]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BaselineHandler)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


class ServerProcess:
    def __init__(self, kind: str, events: int) -> None:
        command = [
            sys.executable,
            "-m",
            "bench.apiserver",
            "--serve",
            kind,
            "--events",
            str(events),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError(f"{kind} server did not start")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        with open(f"/proc/{self.process.pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


# -- client side -----------------------------------------------------------------------------
def api_client(url: str) -> Any:
    configuration = client.Configuration()
    configuration.host = url
    return client.ApiClient(configuration)


def gets_per_second(url: str, count: int) -> float:
    with api_client(url) as api:
        core = client.CoreV1Api(api)
        core.read_namespaced_config_map("cm-0", NAMESPACE)
        started = time.perf_counter()
        for _ in range(count):
            core.read_namespaced_config_map("cm-0", NAMESPACE)
        return count / (time.perf_counter() - started)


def watch_rate(url: str, events: int, results: list[float], barrier: threading.Barrier) -> None:
    with api_client(url) as api:
        core = client.CoreV1Api(api)
        barrier.wait()
        seen = 0
        started = time.perf_counter()
        listing = core.list_namespaced_config_map
        stream = watch.Watch().stream(listing, NAMESPACE, resource_version="1",
                                      timeout_seconds=600, deserialize=False)  # fmt: skip
        for _event in stream:
            seen += 1
            if seen == events:
                break
        elapsed = time.perf_counter() - started
        results.append(seen / elapsed if seen == events else 0.0)


def watchers_round(url: str, events: int, watchers: int) -> list[float]:
    results: list[float] = []
    barrier = threading.Barrier(watchers)
    threads = [
        threading.Thread(target=watch_rate, args=(url, events, results, barrier))
        for _ in range(watchers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    return results


def interleaved_medians(rounds: int, measures: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Median per server, alternating servers round by round so shared-machine load hits
    both alike."""
    samples: dict[str, list[float]] = {kind: [] for kind in measures}
    for _round in range(rounds):
        for kind, measure in measures.items():
            samples[kind].append(measure())
    return {kind: statistics.median(values) for kind, values in samples.items()}


def report(label: str, values: dict[str, float], target: float) -> None:
    value, baseline = values["kreplay"], values["baseline"]
    verdict = "target met" if value >= target else f"BELOW target {target:,.0f}"
    print(f"{label:<46} {value:>9,.0f}/s  baseline {baseline:>9,.0f}/s  "
          f"ratio {value / baseline:4.2f}  ({verdict})")  # fmt: skip


def report_watchers(kind: str, rates: list[float], watchers: int, events: int) -> None:
    starved = sum(1 for r in rates if r == 0.0) + (watchers - len(rates))
    middle = statistics.median(rates)
    print(f"{watchers} watchers x {events:,} events, {kind:<8}: per watcher min {min(rates):,.0f}/s"
          f" median {middle:,.0f}/s, aggregate {sum(rates):,.0f}/s, min/median"
          f" {min(rates) / middle:.2f}, starved {starved}")  # fmt: skip


def report_cpu(
    what: str, servers: dict[str, ServerProcess], workload: Callable[[str], float], count: int
) -> None:
    """Server CPU time per operation: independent of how busy the shared machine is."""
    cpu = {}
    for kind, server in servers.items():
        before = server.cpu_seconds()
        workload(server.url)
        cpu[kind] = (server.cpu_seconds() - before) / count * 1e6
    ratio = cpu["kreplay"] / cpu["baseline"]
    print(f"server CPU per {what} (load-independent): kreplay {cpu['kreplay']:.1f} us, "
          f"baseline {cpu['baseline']:.1f} us, ratio {ratio:.2f}")  # fmt: skip


def run(args: argparse.Namespace) -> None:
    servers = {kind: ServerProcess(kind, args.events) for kind in ("kreplay", "baseline")}
    try:
        urls = {kind: server.url for kind, server in servers.items()}
        print(f"{args.rounds} rounds, medians; baseline = bare stdlib HTTP server, same client")

        def gets(url: str) -> Callable[[], float]:
            return lambda: gets_per_second(url, args.gets)

        def single(url: str) -> Callable[[], float]:
            return lambda: watchers_round(url, args.events, 1)[0]

        values = interleaved_medians(args.rounds, {k: gets(u) for k, u in urls.items()})
        report("get round trips/s (CoreV1Api, typed models)", values, TARGET_GETS)
        values = interleaved_medians(args.rounds, {k: single(u) for k, u in urls.items()})
        report("watch events/s, 1 watcher (deserialize=False)", values, TARGET_EVENTS)
        report_cpu("get", servers, lambda url: gets_per_second(url, args.gets), args.gets)
        report_cpu("watch event", servers, lambda url: watchers_round(url, args.events, 1)[0],
                   args.events)  # fmt: skip
        per_watcher = args.events // 5
        for kind, url in urls.items():
            rates = watchers_round(url, per_watcher, args.watchers)
            report_watchers(kind, rates, args.watchers, per_watcher)
    finally:
        for server in servers.values():
            server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gets", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--watchers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", choices=("kreplay", "baseline"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "kreplay":
        serve_kreplay(args.events)
    elif args.serve == "baseline":
        serve_baseline(args.events)
    else:
        run(args)


if __name__ == "__main__":
    main()
