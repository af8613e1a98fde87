"""Storage benchmark: ingest rate, bytes per operation, random access, session open.

Generates a realistic operator session (Deployments, Pods, ConfigMaps and a custom resource
with managedFields, labels, annotations, spec and status; several actors; gets, lists, watch
events, patches and updates over many objects, with the repetition a real controller shows)
and prints medians and ratios against baselines measured in this same process:

* a naive one-row-per-transaction insert of plain JSON rows (the Go tool's way), on a subset;
* the same operations stored as plain JSON text rows in SQLite (bytes per operation);
* ``kreplay import`` of a Go-tool file in one process, alternating with the default (a
  helper process reads and converts the rows while this one writes, when a core is free).

Usage: ``python -m bench.storage [--ops N] [--dir DIR]`` (as a module: ``bench/recorder.py``
would shadow the ``recorder`` package if this file were run as a script).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from recorder.frames import spare_core
from recorder.storage import CallFrame, Operation, RecordingWriter, SessionInfo, open_recording
from recorder.storage.importer import import_recording
from recorder.storage.seed import OPERATION_TYPES, SEED_V2_DDL, split_statements

SESSION = "bench-session"
BATCH = 5_000
NAIVE_SUBSET = 3_000
IMPORT_SUBSET = 200_000
IMPORT_RUNS = 3
RANDOM_READS = 20_000
ACTORS = ("widget-controller", "deployment-sync", "pod-gc", "status-reporter", "cm-reloader")
T0_NS = 1_767_000_000_000_000_000
CALL_SITES = tuple(
    (
        CallFrame(f"controllers/{name}.py", 40 + 7 * index, f"reconcile_{name}"),
        CallFrame("operator/framework.py", 212, "dispatch"),
        CallFrame("operator/worker.py", 88, "run"),
    )
    for index, name in enumerate(("widget", "deploy", "pods", "config", "status", "gc") * 4)
)


@dataclass
class _Object:
    api_version: str
    kind: str
    resource: str
    namespace: str
    name: str
    uid: str
    body: dict[str, Any]
    rv: int = 1
    encoded: bytes = b""
    unwatched: bool = False

    def encode(self) -> bytes:
        self.encoded = json.dumps(self.body, separators=(",", ":")).encode()
        return self.encoded


def _managed_fields(manager: str, stamp: str) -> list[dict[str, Any]]:
    return [
        {
            "manager": manager,
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": stamp,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:tier": {}}},
                "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {}}}},
            },
        },
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": stamp,
            "fieldsType": "FieldsV1",
            "subresource": "status",
            "fieldsV1": {"f:status": {"f:conditions": {}, "f:replicas": {}}},
        },
    ]


def _metadata(rng: random.Random, kind: str, namespace: str, name: str) -> dict[str, Any]:
    uid = f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-"
    uid += f"a{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}"
    return {
        "name": name,
        "namespace": namespace,
        "uid": uid,
        "resourceVersion": "1",
        "generation": 1,
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {"app": name.rsplit("-", 1)[0], "tier": "backend", "team": "payments"},
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
                {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
            ),
            "example.com/owner": "platform",
        },
        "managedFields": _managed_fields("widget-operator", "2026-01-01T00:00:00Z"),
    }


def _container(name: str, image: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m"}},
        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "REGION", "value": "eu-west"}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
    }


def _conditions(stamp: str) -> list[dict[str, str]]:
    return [
        {"type": kind, "status": "True", "lastTransitionTime": stamp, "reason": "AsExpected"}
        for kind in ("Available", "Progressing", "Ready")
    ]


def _deployment(rng: random.Random, namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(rng, "Deployment", namespace, name),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [_container("app", f"registry.example.com/{name}:1.4.2")]},
            },
        },
        "status": {"replicas": 3, "readyReplicas": 3, "conditions": _conditions("2026-01-01")},
    }


def _pod(rng: random.Random, namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(rng, "Pod", namespace, name),
        "spec": {
            "nodeName": f"node-{rng.randrange(40)}",
            "containers": [_container("app", "registry.example.com/app:1.4.2")],
            "serviceAccountName": "default",
        },
        "status": {"phase": "Running", "podIP": "10.0.0.1", "conditions": _conditions("t")},
    }


def _config_map(rng: random.Random, namespace: str, name: str) -> dict[str, Any]:
    data = {f"key-{i}": f"value-{rng.getrandbits(40):x}" * 4 for i in range(12)}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(rng, "ConfigMap", namespace, name),
        "data": data,
    }


def _widget(rng: random.Random, namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": _metadata(rng, "Widget", namespace, name),
        "spec": {"size": 3, "image": "registry.example.com/widget:2.0", "paused": False},
        "status": {"observedGeneration": 1, "phase": "Ready", "conditions": _conditions("t")},
    }


_KINDS = (
    ("apps/v1", "Deployment", "deployments", _deployment, 200),
    ("v1", "Pod", "pods", _pod, 600),
    ("v1", "ConfigMap", "configmaps", _config_map, 200),
    ("example.com/v1", "Widget", "widgets", _widget, 150),
)


class SessionGenerator:
    """Deterministic stream of realistic operations over a fixed population of objects."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.objects: list[_Object] = []
        self.global_rv = 1000
        for api_version, kind, resource, build, count in _KINDS:
            for index in range(count):
                namespace = f"team-{index % 8}"
                name = f"{kind.lower()}-{index}"
                body = build(self.rng, namespace, name)
                obj = _Object(
                    api_version, kind, resource, namespace, name, body["metadata"]["uid"], body
                )
                obj.encode()
                self.objects.append(obj)
        self.hot = self.objects[: len(self.objects) // 5]

    def _pick(self) -> _Object:
        pool = self.hot if self.rng.random() < 0.6 else self.objects
        return pool[self.rng.randrange(len(pool))]

    def _mutate(self, obj: _Object, ts_ns: int) -> None:
        self.global_rv += 1
        obj.rv = self.global_rv
        meta = obj.body["metadata"]
        meta["resourceVersion"] = str(obj.rv)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts_ns // 1_000_000_000))
        for entry in meta["managedFields"]:
            entry["time"] = stamp
        status = obj.body.get("status")
        if isinstance(status, dict):
            status["observedAt"] = stamp
            if "readyReplicas" in status:
                status["readyReplicas"] = self.rng.randrange(4)
        elif "data" in obj.body:
            obj.body["data"]["key-0"] = f"value-{self.rng.getrandbits(40):x}"
        obj.encode()

    def operations(self, count: int) -> Iterator[Operation]:
        ts_ns = T0_NS
        for seq in range(1, count + 1):
            ts_ns += self.rng.randrange(50_000, 2_000_000)
            yield self._operation(seq, ts_ns)

    def _operation(self, seq: int, ts_ns: int) -> Operation:
        obj = self._pick()
        roll = self.rng.random()
        actor = ACTORS[hash((obj.kind, obj.name)) % len(ACTORS)]
        op = Operation(
            SESSION, seq, ts_ns, "get", api_version=obj.api_version, kind=obj.kind,
            resource=obj.resource, namespace=obj.namespace, name=obj.name, uid=obj.uid,
            status_code=200, duration_us=self.rng.randrange(300, 40_000), actor=actor,
            thread=f"worker-{self.rng.randrange(4)}",
            call_site=CALL_SITES[self.rng.randrange(len(CALL_SITES))],
        )  # fmt: skip
        if roll < 0.40:
            op.response_body = obj.encoded
        elif roll < 0.43:
            op.verb, op.name, op.response_body = "list", "", self._list_body(obj)
        elif roll < 0.70:
            self._watch_event(obj, op, ts_ns)
        elif roll < 0.85:
            op.verb, op.request_body = "update", obj.encoded  # sent with the old resourceVersion
            self._mutate(obj, ts_ns)
            op.response_body = obj.encoded
            obj.unwatched = True
        elif roll < 0.97:
            self._mutate(obj, ts_ns)
            op.verb, op.patch_type = "patch", "application/merge-patch+json"
            op.request_body = b'{"metadata":{"annotations":{"example.com/synced":"true"}}}'
            op.response_body, obj.unwatched = obj.encoded, True
        else:
            op.verb, op.status_code, op.error_code = "update", 409, 409
            op.error_reason, op.error_message = "Conflict", "the object has been modified"
            op.request_body = obj.encoded
        op.resource_version = str(obj.rv)
        return op

    def _watch_event(self, obj: _Object, op: Operation, ts_ns: int) -> None:
        # The echo of our own write carries the very same object; else someone else changed it.
        if not obj.unwatched:
            self._mutate(obj, ts_ns)
        obj.unwatched = False
        op.verb, op.event_type, op.response_body = "watch", "MODIFIED", obj.encoded

    def _list_body(self, around: _Object) -> bytes:
        same = [o for o in self.objects[:400] if o.kind == around.kind][:4]
        items = ",".join(o.encoded.decode() for o in same)
        return f'{{"kind":"{around.kind}List","items":[{items}]}}'.encode()


# -- measurements ------------------------------------------------------------------------


def plain_row(op: Operation) -> tuple[Any, ...]:
    return (
        op.session_id, op.seq, op.ts_ns, op.verb, op.event_type, op.api_version, op.kind,
        op.resource, op.namespace, op.name, op.uid, op.resource_version, op.patch_type,
        None if op.request_body is None else op.request_body.decode(),
        None if op.response_body is None else op.response_body.decode(),
        op.status_code, op.error_code, op.error_reason, op.error_message, op.duration_us,
        op.actor, op.thread,
    )  # fmt: skip


_PLAIN_DDL = (
    "CREATE TABLE ops (session TEXT, seq INTEGER, ts_ns INTEGER, verb TEXT, event_type TEXT,"
    " api_version TEXT, kind TEXT, resource TEXT, namespace TEXT, name TEXT, uid TEXT,"
    " resource_version TEXT, patch_type TEXT, request TEXT, response TEXT, status INTEGER,"
    " error_code INTEGER, error_reason TEXT, error_message TEXT, duration_us INTEGER,"
    " actor TEXT, thread TEXT, PRIMARY KEY (session, seq))"
)
_PLAIN_INSERT = "INSERT INTO ops VALUES (" + ",".join("?" * 22) + ")"


def file_bytes(path: str) -> int:
    total = 0
    for suffix in ("", "-wal", "-journal"):
        if os.path.exists(path + suffix):
            total += os.path.getsize(path + suffix)
    return total


@dataclass
class Figures:
    ops: int = 0
    ingest_seconds: float = 0.0
    ingest_cpu_seconds: float = 0.0
    plain_seconds: float = 0.0
    kreplay_bytes: int = 0
    plain_bytes: int = 0
    naive_ops_per_s: float = 0.0
    access_us: list[float] = field(default_factory=list)
    open_summary_ms: float = 0.0
    import_ops: int = 0
    # Per mode ("default": a helper process reads when a core is free; "one process"):
    # the wall and CPU seconds of each run, alternating between the modes.
    import_runs: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    import_helper_used: bool = False


def ingest(directory: str, ops_count: int, figures: Figures) -> None:
    """Batched writes into our format and into plain JSON rows, same operations."""
    ours, plain = os.path.join(directory, "kreplay.db"), os.path.join(directory, "plain.db")
    conn = sqlite3.connect(plain, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(_PLAIN_DDL)
    generator = SessionGenerator()
    stream = generator.operations(ops_count)
    with RecordingWriter(ours) as writer:
        writer.begin_session(SessionInfo(SESSION, started_ns=T0_NS, operator="widget-operator"))
        for _ in range(ops_count // BATCH + 1):
            batch = [op for _, op in zip(range(BATCH), stream, strict=False)]
            if not batch:
                break
            rows = [plain_row(op) for op in batch]
            started, started_cpu = time.perf_counter(), time.process_time()
            writer.append(batch)
            figures.ingest_seconds += time.perf_counter() - started
            figures.ingest_cpu_seconds += time.process_time() - started_cpu
            started = time.perf_counter()
            conn.execute("BEGIN")
            conn.executemany(_PLAIN_INSERT, rows)
            conn.execute("COMMIT")
            figures.plain_seconds += time.perf_counter() - started
            figures.ops += len(batch)
        writer.end_session(SESSION)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    figures.kreplay_bytes, figures.plain_bytes = file_bytes(ours), file_bytes(plain)


def naive_baseline(directory: str, figures: Figures) -> None:
    """One row per transaction, default journal: how a naive recorder writes."""
    path = os.path.join(directory, "naive.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(_PLAIN_DDL)
    rows = [plain_row(op) for op in SessionGenerator(seed=11).operations(NAIVE_SUBSET)]
    started = time.perf_counter()
    for row in rows:
        conn.execute("BEGIN")
        conn.execute(_PLAIN_INSERT, row)
        conn.execute("COMMIT")
    figures.naive_ops_per_s = len(rows) / (time.perf_counter() - started)
    conn.close()


_SEED_INSERT = (
    "INSERT INTO operations (session_id, sequence_number, timestamp, operation_type,"
    " resource_kind, namespace, name, resource_data, error, duration_ms, actor_id, uid,"
    " resource_version, generation, verb) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def seed_file(path: str, count: int) -> None:
    """The same kind of session in the Go tool's later schema (one object per row)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in split_statements(SEED_V2_DDL):
        conn.execute(statement)
    conn.execute("BEGIN")
    for op in SessionGenerator(seed=5).operations(count):
        body = op.response_body if op.response_body is not None else op.request_body
        conn.execute(
            _SEED_INSERT,
            (op.session_id, op.seq, op.ts_ns // 10**9, OPERATION_TYPES[op.verb], op.kind,
             op.namespace, op.name, None if body is None else body.decode(),
             op.error_message or None, op.duration_us // 1000, op.actor, op.uid,
             op.resource_version, op.generation, op.verb),
        )  # fmt: skip
    conn.execute("COMMIT")
    conn.close()


def import_rate(directory: str, ops_count: int, figures: Figures) -> None:
    """``kreplay import`` of a Go-tool file: rows read, converted, compressed, written.

    Alternating runs of the default (a helper process reads and converts while this one
    writes, when a core is free) and of one process, the baseline."""
    source = os.path.join(directory, "seed.db")
    seed_file(source, min(ops_count, IMPORT_SUBSET))
    figures.import_helper_used = spare_core()
    for run in range(2 * IMPORT_RUNS):
        mode, parallel = ("default", None) if run % 2 == 0 else ("one process", False)
        target = os.path.join(directory, f"imported-{run}.db")
        started, started_cpu = time.perf_counter(), time.process_time()
        report = import_recording(source, target, max_ops=ops_count, parallel=parallel)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - started_cpu
        figures.import_runs.setdefault(mode, []).append((seconds, cpu))
        figures.import_ops = report.operations
        os.remove(target)


def random_access(directory: str, figures: Figures) -> None:
    """Open + summary, then random ``operation(N)`` with the response decoded."""
    path = os.path.join(directory, "kreplay.db")
    started = time.perf_counter()
    recording = open_recording(path)
    summary = recording.session(SESSION)
    figures.open_summary_ms = (time.perf_counter() - started) * 1000
    rng = random.Random(3)
    last = summary.last_seq or 1
    for _ in range(RANDOM_READS):
        seq = rng.randrange(1, last + 1)
        started = time.perf_counter()
        op = recording.operation(SESSION, seq)
        if op is not None:
            recording.body_json(op.response_ref if op.response_ref else op.request_ref)
        figures.access_us.append((time.perf_counter() - started) * 1e6)
    recording.close()


def report(figures: Figures) -> None:
    ops = figures.ops
    rate = ops / figures.ingest_seconds
    plain_rate = ops / figures.plain_seconds
    access = sorted(figures.access_us)
    p99 = access[int(len(access) * 0.99) - 1]
    print(f"operations:                     {ops:,}")
    cpu_rate = ops / figures.ingest_cpu_seconds
    print(f"batched ingest (kreplay):       {rate:,.0f} ops/s wall, {cpu_rate:,.0f} ops/s of CPU"
          "  (target >= 50,000)")  # fmt: skip
    print(f"batched ingest (plain JSON):    {plain_rate:,.0f} ops/s")
    print(f"naive 1 row/transaction:        {figures.naive_ops_per_s:,.0f} ops/s")
    print(f"  kreplay / naive:              {rate / figures.naive_ops_per_s:,.1f}x")
    ours, plain = figures.kreplay_bytes / ops, figures.plain_bytes / ops
    print(f"bytes/op kreplay:               {ours:,.1f}")
    print(f"bytes/op plain JSON in SQLite:  {plain:,.1f}")
    print(f"  kreplay / plain:              {ours / plain:.1%}  (target <= 15%)")
    print(f"random operation(N)+body_json:  median {statistics.median(access):.1f} us,"
          f" p99 {p99:.1f} us  (target median <= 75 us)")  # fmt: skip
    print(f"open + session summary:         {figures.open_summary_ms:.2f} ms")
    print(f"import of a seed-v2 file ({figures.import_ops:,} ops, median of"
          f" {IMPORT_RUNS} alternating runs each; target >= 50,000 ops/s):")  # fmt: skip
    rates = {}
    for mode, runs in figures.import_runs.items():
        rates[mode] = figures.import_ops / statistics.median(wall for wall, _ in runs)
        cpu = figures.import_ops / statistics.median(cpu for _, cpu in runs)
        print(f"  {mode + ':':<30}{rates[mode]:,.0f} ops/s wall,"
              f" {cpu:,.0f} ops/s of this process' CPU")  # fmt: skip
    helper = "a helper process" if figures.import_helper_used else "one process (no free core)"
    print(f"  default / one process:        {rates['default'] / rates['one process']:.2f}x"
          f"  (the default read with {helper})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1_000_000, help="operations to generate")
    parser.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    args = parser.parse_args()
    if args.ops < BATCH:
        parser.error(f"--ops must be at least {BATCH}")
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        figures = Figures()
        naive_baseline(directory, figures)
        ingest(directory, args.ops, figures)
        random_access(directory, figures)
        import_rate(directory, args.ops, figures)
        report(figures)


if __name__ == "__main__":
    main()
