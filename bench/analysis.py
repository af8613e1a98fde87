"""Analysis benchmark: the full analysis on N operations against the Go tool's naive
window algorithm, on the same data, in this same process.

Data: a realistic busy operator session (thousands of objects; reconcile spans that get,
list and write status; watch events; users editing specs; node status updates; periodic
resyncs; some 404/403/409s; a few objects caught in a status loop), written with the real
``RecordingWriter`` and cached between runs.

Figures, for the single-process pass and for the two-process one (a second process reads
the session and runs the world-free detectors; ``AnalysisOptions.parallel``): median wall
and CPU time of ``analyze`` over ``--runs`` runs (after a warm-up run; CPU includes the
reading process'), whether both give the same report, and reading alone; peak Python heap
of one run (tracemalloc); peak RSS of a fresh process doing only the analysis, plus its
reading process' peak RSS (their sum is the pass' memory); the naive baseline
(contiguous windows of (verb, kind, namespace, name), stopping at 100,000 operations as
the Go tool did) timed on its 100,000 and, to compare like with like, on all N; and both
algorithms' loop recall on the labelled scenario corpus.

Usage: ``python bench/analysis.py [--ops 1000000] [--runs 3] [--dir DIR] [--seeds 6]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kreplay_dap.analysis import AnalysisOptions, analyze
from kreplay_dap.analysis.scan import operations_with_keys
from recorder.storage import (
    Operation,
    ReconcileSpan,
    Recording,
    RecordingWriter,
    SessionInfo,
    open_recording,
)

SESSION = "bench"
GO_TOOL_CAP = 100_000
GO_WINDOW = 10
BATCH = 5_000
T0 = 1_767_000_000_000_000_000
LOOPING_OBJECTS = 5
T = TypeVar("T")


def _body(kind: str, name: str, rv: int, generation: int, status: str, actor: str) -> bytes:
    return json.dumps({
        "apiVersion": "example.com/v1", "kind": kind,
        "metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}",
                     "resourceVersion": str(rv), "generation": generation,
                     "labels": {"app": name.split("-", 1)[0], "tier": "backend"},
                     "managedFields": [{"manager": actor, "operation": "Update",
                                        "time": f"2026-01-01T00:{rv % 60:02d}:00Z"}]},
        "spec": {"size": generation, "image": "registry.local/app:1.4.2", "replicas": 3},
        "status": {"phase": status, "observedGeneration": generation,
                   "conditions": [{"type": "Ready", "status": "True",
                                   "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
    }).encode()  # fmt: skip


class _Gen:
    """Emits a busy, mostly healthy session op by op."""

    def __init__(self, seed: int, objects: int) -> None:
        self.rng = random.Random(seed)
        self.seq = 0
        self.ts = T0
        self.rv = 1000
        self.span = 0
        self.spans: list[ReconcileSpan] = []
        self.names = [f"app{i % 97}-{i}" for i in range(objects)]
        self.generation = dict.fromkeys(self.names, 1)
        self.object_rv = dict.fromkeys(self.names, 1)

    def op(self, verb: str, name: str, actor: str, **fields: object) -> Operation:
        self.seq += 1
        self.ts += self.rng.randrange(100_000, 3_000_000)
        fields.setdefault("duration_us", self.rng.randrange(500, 30_000))
        fields.setdefault("kind", "Widget")
        return Operation(SESSION, self.seq, self.ts, verb, namespace="shop", name=name,
                         actor=actor, **fields)  # type: ignore[arg-type]  # fmt: skip

    def write(self, name: str, actor: str, span: int | None, sub: str = "") -> list[Operation]:
        self.rv += 1
        self.object_rv[name] = self.rv
        body = _body("Widget", name, self.rv, self.generation[name], "Ready", actor)
        write = self.op("update", name, actor, subresource=sub, resource_version=str(self.rv),
                        response_body=body, status_code=200, span_id=span)  # fmt: skip
        event = self.op("watch", name, "widget-controller", event_type="MODIFIED",
                        resource_version=str(self.rv), response_body=body,
                        duration_us=0)  # fmt: skip
        return [write, event]

    def reconcile(self, name: str, write: bool, lists: bool = True) -> list[Operation]:
        self.span += 1
        self.spans.append(ReconcileSpan(SESSION, self.span, "Widget", "shop", name,
                                        actor="widget-controller", start_ns=self.ts,
                                        end_ns=self.ts + 5_000_000))  # fmt: skip
        rv = self.object_rv[name]
        body = _body("Widget", name, rv, self.generation[name], "Ready", "x")
        ops = [self.op("get", name, "widget-controller", resource_version=str(rv),
                       response_body=body, status_code=200, span_id=self.span)]  # fmt: skip
        if lists:
            ops.append(self.op("list", "", "widget-controller", kind="Pod", status_code=200,
                               span_id=self.span))  # fmt: skip
        if write:
            ops += self.write(name, "widget-controller", self.span, "status")
        return ops

    def step(self) -> list[Operation]:
        roll = self.rng.random()
        name = self.rng.choice(self.names)
        if roll < 0.20:
            self.generation[name] += 1
            return self.write(name, "alice", None) + self.reconcile(name, True)
        if roll < 0.30:
            looping = self.names[self.rng.randrange(LOOPING_OBJECTS)]
            return self.reconcile(looping, True, lists=False)
        if roll < 0.55:
            return self.reconcile(name, False)
        if roll < 0.75:
            pod = f"pod-{self.rng.randrange(20_000)}"
            self.rv += 1
            return [self.op("patch", pod, "kubelet", kind="Pod", subresource="status",
                            resource_version=str(self.rv), status_code=200)]  # fmt: skip
        if roll < 0.78:
            code = self.rng.choice((404, 403, 409, 500))
            return [self.op("update", name, "widget-controller", status_code=code,
                            error_code=code, error_reason=str(code))]  # fmt: skip
        rv = str(self.object_rv[name])
        return [self.op("get", name, "resync", resource_version=rv, status_code=200)]


def generate(path: Path, ops: int, seed: int = 7) -> None:
    gen = _Gen(seed, max(100, ops // 200))
    with RecordingWriter(str(path), max_ops=ops + 100) as writer:
        writer.begin_session(SessionInfo(SESSION, started_ns=T0, operator="bench"))
        batch: list[Operation] = []
        for _ in range(ops):
            if gen.seq >= ops:
                break
            batch.extend(gen.step())
            if len(batch) >= BATCH:
                writer.append(batch[: max(0, ops - (gen.seq - len(batch)))])
                writer.upsert_spans(gen.spans)
                gen.spans.clear()
                batch = []
        writer.append(batch[: max(0, ops - (gen.seq - len(batch)))])
        writer.upsert_spans(gen.spans)
        writer.end_session(SESSION)


def _window_ops(recording: Recording, cap: int | None) -> Iterator[tuple[str, str, str, str]]:
    for count, op in enumerate(recording.operations(SESSION)):
        if cap is not None and count >= cap:
            return
        yield (op.verb, op.kind, op.namespace, op.name)


def naive_loops(keys: list[tuple[str, str, str, str]], window: int = GO_WINDOW) -> list[int]:
    """The Go tool's algorithm: a window of operations repeated right after itself."""
    found = []
    for start in range(len(keys) - 2 * window + 1):
        if keys[start : start + window] == keys[start + window : start + 2 * window]:
            found.append(start)
    return found


def _children_cpu_seconds() -> float:
    """CPU time of this process' ended children (the analysis' reading process)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def _timed_apart(function: Callable[[], T], runs: int) -> tuple[float, float, float, T]:
    """Median wall seconds, CPU seconds of this process and CPU seconds of its children, of
    ``max(1, runs - 1)`` runs after a warm-up run. CPU time is less moved by other load on
    a shared machine than wall; this process' share is the two-process pass' critical path
    when a core is free."""
    walls, own, children = [], [], []
    result = function()
    for _ in range(max(1, runs - 1)):
        began, began_own, began_children = (
            time.perf_counter(), time.process_time(), _children_cpu_seconds()
        )  # fmt: skip
        result = function()
        walls.append(time.perf_counter() - began)
        own.append(time.process_time() - began_own)
        children.append(_children_cpu_seconds() - began_children)
    return (
        statistics.median(walls), statistics.median(own), statistics.median(children), result
    )  # fmt: skip


def _timed(function: Callable[[], T], runs: int) -> tuple[float, float, T]:
    """Median wall and CPU seconds (this process' and its children's) as ``_timed_apart``."""
    wall, own, children, result = _timed_apart(function, runs)
    return wall, own + children, result


def corpus_recall(seeds: int, directory: str) -> dict[str, float]:
    """Loop recall of both algorithms on the labelled scenarios (same sessions)."""
    from samples.scenarios import write_corpus

    path = os.path.join(directory, "corpus.db")
    sessions = write_corpus(path, range(seeds))
    recording = open_recording(path)
    ours = naive = total = 0
    for session, (_scenario, labels) in sessions.items():
        wanted = {name for kind, name in labels if kind == "loop"}
        if not wanted:
            continue
        total += len(wanted)
        found = {f.objects[0] for f in analyze(recording, session).of_type("loop")}
        ours += len(wanted & found)
        keys = [(o.verb, o.kind, o.namespace, o.name) for o in recording.operations(session)]
        hits = {"/".join(keys[i][1:]) for i in naive_loops(keys)}
        naive += len(wanted & hits)
    recording.close()
    return {"labelled loops": total, "ours": ours / total, "naive": naive / total}


def _peak_rss_kib() -> int:
    """This process' own peak RSS. Not ``ru_maxrss``: Linux carries the parent's peak over
    into a child spawned by vfork + exec, so it reported the benchmark parent's memory."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # no /proc: best effort


def _fresh_process_rss_mib(args: argparse.Namespace, parallel: bool) -> tuple[float, float]:
    """Peak RSS of a fresh process running one analysis, and of its reading process
    (``ru_maxrss`` of its children: may include the little the child held when it started
    the reader, so an upper bound)."""
    command = [sys.executable, __file__, "--child", "--ops", str(args.ops), "--dir", args.dir]
    child = subprocess.run(
        [*command, "--parallel"] if parallel else command,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    own, reader = child.stdout.strip().splitlines()[-1].split()
    return int(own) / 1024, int(reader) / 1024


def _child(path: Path, args: argparse.Namespace) -> None:
    """One analysis in a fresh process: its peak RSS is the analysis' own."""
    recording = open_recording(str(path), max_ops=args.ops + 100)
    analyze(recording, SESSION, AnalysisOptions(parallel=args.parallel))
    reader = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if args.parallel else 0
    print(_peak_rss_kib(), reader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--parallel", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = Path(args.dir) / f"kreplay-analysis-bench-{args.ops}.db"
    if args.child:
        _child(path, args)
        return
    if not path.exists():
        began = time.perf_counter()
        partial = path.with_suffix(".partial")
        for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
            leftover.unlink(missing_ok=True)
        generate(partial, args.ops)
        partial.rename(path)
        print(f"generated {args.ops} ops in {time.perf_counter() - began:.1f} s -> {path}")
    recording = open_recording(str(path), max_ops=args.ops + 100)
    total = recording.session(SESSION).op_count
    options = AnalysisOptions(parallel=False)
    ours, ours_cpu, report = _timed(lambda: analyze(recording, SESSION, options), args.runs)
    two = AnalysisOptions(parallel=True)
    par, par_own, par_reader, par_report = _timed_apart(
        lambda: analyze(recording, SESSION, two), args.runs
    )
    par_cpu = par_own + par_reader
    same = json.dumps(par_report.to_json()) == json.dumps(report.to_json())
    read_only, _, _ = _timed(lambda: sum(1 for _ in recording.operations(SESSION)), args.runs)
    scan_only, scan_cpu, _ = _timed(
        lambda: sum(1 for _ in operations_with_keys(recording, SESSION, 1 << 20)), args.runs
    )
    tracemalloc.start()
    analyze(recording, SESSION, options)
    peak_heap = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    capped_keys = list(_window_ops(recording, GO_TOOL_CAP))
    naive_capped, _, capped_hits = _timed(lambda: naive_loops(capped_keys), args.runs)
    read_all, read_all_cpu, all_keys = _timed(lambda: list(_window_ops(recording, None)), 1)
    naive_all, naive_all_cpu, all_hits = _timed(lambda: naive_loops(all_keys), 1)
    recording.close()
    rss, _ = _fresh_process_rss_mib(args, parallel=False)
    par_rss, reader_rss = _fresh_process_rss_mib(args, parallel=True)
    loops = len(report.of_type("loop"))
    naive_wall, naive_cpu = read_all + naive_all, read_all_cpu + naive_all_cpu
    print(f"operations: {total}; load average before: {os.getloadavg()[0]:.2f}")
    print(f"ours, 1 process:   analyze() median {ours:.2f} s wall, {ours_cpu:.2f} s CPU over "
          f"{args.runs} runs ({total / ours / 1e6:.2f} M ops/s; reading alone {read_only:.2f} s "
          f"through the Recording protocol, {scan_only:.2f} s ({scan_cpu:.2f} s CPU) through "
          f"the analysis' scan), peak heap {peak_heap / 2**20:.0f} MiB (tracemalloc), peak RSS "
          f"of a fresh process running it {rss:.0f} MiB, "
          f"{len(report.findings)} findings, {loops} loops")  # fmt: skip
    print(f"ours, 2 processes: analyze() median {par:.2f} s wall, {par_cpu:.2f} s CPU "
          f"({par_own:.2f} s analysis + {par_reader:.2f} s reading process) over {args.runs} "
          f"runs, peak RSS {par_rss:.0f} + {reader_rss:.0f} = "
          f"{par_rss + reader_rss:.0f} MiB (analysis + reading process), report "
          f"{'identical' if same else 'DIFFERENT'} to the 1-process one")  # fmt: skip
    print(f"naive: first {GO_TOOL_CAP} ops (the Go tool's cap): {naive_capped:.2f} s, "
          f"{len(capped_hits)} window repeats; all {total} ops: reading {read_all:.2f} s + "
          f"windows {naive_all:.2f} s, {len(all_hits)} repeats")  # fmt: skip
    print(f"ratio ours / naive (all ops, reading included): 1 process {ours / naive_wall:.2f} "
          f"wall, {ours_cpu / naive_cpu:.2f} CPU; 2 processes {par / naive_wall:.2f} wall, "
          f"{par_cpu / naive_cpu:.2f} CPU")  # fmt: skip
    if args.seeds:
        with tempfile.TemporaryDirectory() as directory:
            print(f"loop recall on the labelled corpus ({args.seeds} seeds): "
                  f"{corpus_recall(args.seeds, directory)}")  # fmt: skip


if __name__ == "__main__":
    main()
