"""Benchmark of the debug adapter on a generated 1,000,000-operation session, over stdio.

Reports launch-to-first-stop, the per-stop round trip VS Code performs (step, stackTrace,
scopes, variables of Object and Changes; median and p99), reverse-continue to a function
and a source breakpoint 900,000 operations away, a data breakpoint across the session, the
Cluster scope's first expansion, the session listing, and the adapter's peak RSS. Baseline,
measured in this process: one storage point lookup plus the JSON decode of its body.
Usage: ``python bench/dap.py [--ops N] [--objects N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import dap.client  # type: ignore[import-not-found, unused-ignore]  # noqa: E402
from dap.client import DapClient  # type: ignore[import-not-found, unused-ignore]  # noqa: E402

from recorder.storage import CallFrame, Operation, RecordingWriter, SessionInfo, open_recording  # noqa: E402

SESSION = "bench"
RARE_SEQ = 50_000  # the only "delete ConfigMap" and the only call from /app/rare.py:999
CHANGE_SEQ = 60_000  # the one write that changes Deployment default/web .spec.replicas
T0 = 1_700_000_000_000_000_000
OBJECTS = 5000  # distinct Pods; --objects N changes it


def _body(kind: str, name: str, rv: int, replicas: int = 1) -> bytes:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": "default", "resourceVersion": str(rv)},
            "spec": {"replicas": replicas, "image": "nginx:1.25"},
            "status": {"ready": rv % 3, "observed": rv},
        }
    ).encode()


def _op(seq: int) -> Operation:
    common: dict[str, Any] = {
        "namespace": "default",
        "status_code": 200,
        "duration_us": 900,
        "api_version": "v1",
        "actor": f"ctrl-{seq % 4}",
        "thread": "worker",
    }
    if seq == RARE_SEQ:
        return Operation(
            SESSION,
            0,
            T0 + seq,
            "delete",
            kind="ConfigMap",
            name="rare",
            call_site=(CallFrame("/app/rare.py", 999, "cleanup"),),
            **common,
        )
    if seq % 100 == 0 or seq == 1:
        replicas = 3 if seq >= CHANGE_SEQ else 1
        return Operation(
            SESSION,
            0,
            T0 + seq,
            "update",
            kind="Deployment",
            name="web",
            response_body=_body("Deployment", "web", seq, replicas),
            **common,
        )
    name = f"pod-{seq % OBJECTS}"
    verb = "get" if seq % 3 else "update"
    return Operation(
        SESSION,
        0,
        T0 + seq,
        verb,
        kind="Pod",
        name=name,
        response_body=_body("Pod", name, seq),
        **common,
    )


def generate(path: Path, ops: int) -> None:
    if path.exists():
        return
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    started = time.perf_counter()
    with RecordingWriter(str(tmp), max_ops=ops + 1) as writer:
        writer.begin_session(SessionInfo(SESSION, started_ns=T0, operator="bench"))
        for start in range(1, ops + 1, 10_000):
            writer.append([_op(seq) for seq in range(start, min(start + 10_000, ops + 1))])
        writer.end_session(SESSION)
    tmp.rename(path)
    print(f"generated {ops} operations in {time.perf_counter() - started:.1f} s")


def baseline_us(path: Path, ops: int, samples: int = 2000) -> float:
    recording = open_recording(str(path), max_ops=2_000_000)
    times = []
    for seq in range(ops // 2, ops // 2 + min(samples, ops // 4)):
        begin = time.perf_counter()
        op = recording.operation(SESSION, seq)
        assert op is not None
        recording.body_json(op.response_ref)
        times.append(time.perf_counter() - begin)
    recording.close()
    return statistics.median(times) * 1e6


def stop_and_inspect(client: DapClient, command: str, args: dict[str, Any]) -> float:
    begin = time.perf_counter()
    client.request(command, args)
    stopped = client.event("stopped")["body"]
    frames = client.request("stackTrace", {"threadId": stopped["threadId"]})["stackFrames"]
    scopes = client.request("scopes", {"frameId": frames[0]["id"]})["scopes"]
    for scope in scopes:
        if scope["name"] in ("Object", "Changes"):
            client.request("variables", {"variablesReference": scope["variablesReference"]})
    return time.perf_counter() - begin


def cluster_page(client: DapClient) -> float:
    begin = time.perf_counter()
    frames = client.request("stackTrace", {"threadId": 1})["stackFrames"]
    scopes = client.request("scopes", {"frameId": frames[0]["id"]})["scopes"]
    cluster = next(s for s in scopes if s["name"] == "Cluster")
    kinds = client.request("variables", {"variablesReference": cluster["variablesReference"]})
    pods = next(v for v in kinds["variables"] if v["name"] == "Pod")
    spaces = client.request("variables", {"variablesReference": pods["variablesReference"]})
    default = spaces["variables"][0]["variablesReference"]
    page = client.request("variables", {"variablesReference": default, "start": 0, "count": 100})
    assert len(page["variables"]) == 100
    return time.perf_counter() - begin


def position(client: DapClient) -> int:
    frames = client.request("stackTrace", {"threadId": 1})["stackFrames"]
    return int(frames[0]["name"].rsplit("#", 1)[1].rstrip(")"))


def timed_run(client: DapClient, command: str) -> float:
    begin = time.perf_counter()
    client.request(command, {"threadId": 1})
    client.event("stopped")
    return time.perf_counter() - begin


def timed_listing(client: DapClient, ops: int) -> float:
    begin = time.perf_counter()
    content = client.request("source", {"sourceReference": 1})["content"]
    elapsed = time.perf_counter() - begin
    assert content.count("\n") == ops, content.count("\n")
    return elapsed


def listing_beside_a_request(client: DapClient, ops: int) -> tuple[float, float]:
    """The first listing request and a stackTrace sent just after it: (seconds until the
    stackTrace answer, seconds until the listing). The listing builds aside, so the other
    request should not wait for it."""
    begin = time.perf_counter()
    source_seq = client.send("source", {"sourceReference": 1})
    stack_seq = client.send("stackTrace", {"threadId": 1})
    answered: dict[int, float] = {}
    content = ""
    for _ in range(10_000):
        message = client.receive()
        if message["type"] == "response" and message["request_seq"] in (source_seq, stack_seq):
            assert message["success"], message
            answered[message["request_seq"]] = time.perf_counter() - begin
            if message["request_seq"] == source_seq:
                content = message["body"]["content"]
        if len(answered) == 2:
            break
    assert content.count("\n") == ops, content.count("\n")
    return answered[stack_seq], answered[source_seq]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--objects", type=int, default=5000, help="distinct Pods")
    parser.add_argument(
        "--analysis", action="store_true", help="also run the analysis in the adapter and wait"
    )
    options = parser.parse_args()
    global RARE_SEQ, CHANGE_SEQ, OBJECTS
    OBJECTS = options.objects
    RARE_SEQ = min(RARE_SEQ, options.ops // 20)
    CHANGE_SEQ = min(CHANGE_SEQ, options.ops // 1600 * 100)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if OBJECTS == 5000 else f"-{OBJECTS}objects"
    path = out / f"dap-{options.ops}{suffix}.db"
    generate(path, options.ops)
    base = baseline_us(path, options.ops)
    client = DapClient(None)
    begin = time.perf_counter()
    client.request("initialize", {"adapterID": "kreplay"})
    loops = {"enabled": bool(options.analysis)}
    client.request("launch", {"database": str(path), "loopDetection": loops})
    client.request("configurationDone")
    client.event("stopped")
    first_stop = time.perf_counter() - begin
    dap.client.MESSAGE_DEADLINE_S = 900.0  # the analysis of 1M operations takes a while
    analysis = client.event("output")["body"]["output"].strip()  # background analysis done
    analysis_s = time.perf_counter() - begin
    dap.client.MESSAGE_DEADLINE_S = 60.0
    client.request("evaluate", {"expression": f"goto {options.ops // 2}", "context": "repl"})
    client.event("stopped")
    for _ in range(20):  # warm-up, and let the deferred loop detection finish
        stop_and_inspect(client, "stepIn", {"threadId": 1})
    rounds = sorted(
        stop_and_inspect(client, "stepIn", {"threadId": 1}) for _ in range(options.steps)
    )
    median_ms, p99_ms = statistics.median(rounds) * 1e3, rounds[int(len(rounds) * 0.99) - 1] * 1e3
    far = min(RARE_SEQ + 900_000, options.ops)
    client.request("evaluate", {"expression": f"goto {far}", "context": "repl"})
    client.event("stopped")
    client.request("setFunctionBreakpoints", {"breakpoints": [{"name": "delete ConfigMap"}]})
    function_s = timed_run(client, "reverseContinue")
    assert position(client) == RARE_SEQ, position(client)
    client.request("setFunctionBreakpoints", {"breakpoints": []})
    client.request("evaluate", {"expression": f"goto {far}", "context": "repl"})
    client.event("stopped")
    client.request(
        "setBreakpoints", {"source": {"path": "/app/rare.py"}, "breakpoints": [{"line": 999}]}
    )
    source_s = timed_run(client, "reverseContinue")
    assert position(client) == RARE_SEQ, position(client)
    client.request("setBreakpoints", {"source": {"path": "/app/rare.py"}, "breakpoints": []})
    client.request("evaluate", {"expression": f"goto {options.ops}", "context": "repl"})
    client.event("stopped")
    data_id = json.dumps({"ref": ["Deployment", "default", "web"], "path": ["spec", "replicas"]})
    client.request("setDataBreakpoints", {"breakpoints": [{"dataId": data_id}]})
    data_s = timed_run(client, "reverseContinue")
    assert position(client) == CHANGE_SEQ, position(client)
    cluster_first = cluster_page(client)
    client.request("stepBack", {"threadId": 1})
    client.event("stopped")
    cluster_again = cluster_page(client)
    print(
        f"Cluster scope, kinds -> Pod -> first 100 objects: first {cluster_first * 1e3:.0f} ms"
        f" (builds the object index), then {cluster_again * 1e3:.1f} ms"
    )
    dap.client.MESSAGE_DEADLINE_S = 300.0  # the first listing request builds it
    meanwhile, listing_first = listing_beside_a_request(client, options.ops)
    listing_again = timed_listing(client, options.ops)
    print(
        f"session listing (source request, {options.ops} lines): first {listing_first:.2f} s"
        f" (builds it; a stackTrace sent after it answered in {meanwhile * 1e3:.0f} ms),"
        f" then {listing_again:.2f} s (streamed)"
    )
    rss = peak_rss_mb(client.process.pid)
    client.request("disconnect")
    client.close()
    print(f"{analysis} (finished {analysis_s:.1f} s after launch; steps measured after it)")
    report(options.ops, base, first_stop, median_ms, p99_ms, function_s, source_s, data_s, rss)


def report(
    ops: int,
    base: float,
    first: float,
    med: float,
    p99: float,
    fn: float,
    src: float,
    data: float,
    rss: float,
) -> None:
    print(f"session: {ops} operations")
    print(f"baseline (in process): point lookup + JSON decode = {base:.1f} us")
    print(f"launch -> first stopped:                 {first * 1e3:8.1f} ms   (target <= 1000)")
    print(
        f"step round trip median / p99:            {med:8.2f} / {p99:.2f} ms (target p99 <= 15)"
        f"   = {med * 1e3 / base:.0f}x / {p99 * 1e3 / base:.0f}x baseline"
    )
    print(f"reverseContinue 900k to function bp:     {fn * 1e3:8.1f} ms   (target <= 1000)")
    print(f"reverseContinue 900k to source bp:       {src * 1e3:8.1f} ms   (target <= 1000)")
    print(f"reverseContinue data bp (10k versions):  {data * 1e3:8.1f} ms   (target <= 1000)")
    print(f"adapter peak RSS (VmHWM):                {rss:8.1f} MB   (target <= 300)")


if __name__ == "__main__":
    main()
