"""Instructions the operator's thread runs per call, plain and recorded (valgrind's callgrind).

On a shared VM, one wall-clock run of ``bench.recorder`` moves by about 3 % from the next:
as much as the recording costs. The instructions the calling thread executes do not depend
on the neighbours. Each run here is one process, under callgrind, holding a plain and a
recorded ``CoreV1Api`` side by side (the recorder installed, as in ``bench.recorder``); it
makes some plain calls and some recorded calls, and its main thread's instructions are
counted (the API server runs in another process, the recorder's sender thread and writer
process are not the caller's). Three runs per hash seed, with more plain calls in one and
more recorded calls in another, give the instructions of one plain and one recorded call;
the fixed cost of starting the process cancels out.

Instructions are not time: cache misses and the writer process's share of the machine do
not show here. The interpreter's shared attribute cache does: which entries collide moves
with the memory layout, so each seed gives a slightly different figure; the median is
reported. Needs valgrind (``apt install valgrind``).

``--op watch`` counts a ``deserialize=False`` watch stream of 100 events as one call, and
reports per event.

    python -m bench.recorder_instructions [--op read|patch|watch] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.pod_shapes import SHAPES

_FEW, _MANY = 20, 140  # calls of a kind in a run; the difference is what is counted
_PATCH = {"metadata": {"labels": {"touched": "yes"}}}
_WATCH_EVENTS = 100  # events in each watch stream the server sends


def serve(pod: str) -> None:
    """Child process: the local API server of ``bench.recorder``, until stdin closes."""
    from bench.recorder import local_server

    with local_server(_WATCH_EVENTS, SHAPES[pod]) as url:
        print(url, flush=True)
        sys.stdin.read()


def client_run(url: str, op: str, plain_calls: int, recorded_calls: int) -> None:
    """Child process (under callgrind): warm both clients, then make the counted calls."""
    from kubernetes import client

    from recorder import Recorder

    workdir = tempfile.mkdtemp(prefix="kreplay-instructions-")
    recorder = Recorder(os.path.join(workdir, "rec.db"), "instructions")
    configuration = client.Configuration(host=url)
    plain = client.CoreV1Api(client.ApiClient(configuration))
    recorded = client.CoreV1Api(recorder.instrument(client.ApiClient(configuration)))
    for api in (plain, recorded) * 15:
        call(api, op)
    recorder.flush(600)
    for _ in range(plain_calls):
        call(plain, op)
    for _ in range(recorded_calls):
        call(recorded, op)
    recorder.close(600)
    shutil.rmtree(workdir, ignore_errors=True)


def call(api: Any, op: str) -> None:
    if op == "read":
        api.read_namespaced_pod("web-0", "default")
    elif op == "patch":
        api.patch_namespaced_pod("web-0", "default", _PATCH)
    else:
        from bench.recorder import watch_rate  # checks that all the events came

        watch_rate(api, _WATCH_EVENTS, deserialize=False)


def main_thread_instructions(url: str, op: str, counts: tuple[int, int], seed: str) -> int:
    """Run one child under callgrind; the instructions of its main thread."""
    with tempfile.TemporaryDirectory(prefix="kreplay-callgrind-") as work:
        out = Path(work) / "cg.out"
        command = ["valgrind", "--tool=callgrind", "--separate-threads=yes",
                   f"--callgrind-out-file={out}", sys.executable, "-m", __spec__.name,
                   "--client", url, "--op", op, "--counts", f"{counts[0]},{counts[1]}"]  # fmt: skip
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=3600)
        main = Path(f"{out}-01")  # thread 1: the calling thread
        for line in main.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no instruction total")


def per_call(url: str, op: str, seed: str) -> tuple[float, float]:
    """Instructions of one plain call and one recorded call, with this hash seed."""
    base = main_thread_instructions(url, op, (_FEW, _FEW), seed)
    more_plain = main_thread_instructions(url, op, (_MANY, _FEW), seed)
    more_recorded = main_thread_instructions(url, op, (_FEW, _MANY), seed)
    span = _MANY - _FEW
    return (more_plain - base) / span, (more_recorded - base) / span


def report(op: str, results: list[tuple[str, float, float]]) -> None:
    if op == "watch":  # per event, not per stream
        results = [(seed, plain / _WATCH_EVENTS, recorded / _WATCH_EVENTS)
                   for seed, plain, recorded in results]  # fmt: skip
        op = "event of a deserialize=False watch"
    print(f"instructions on the calling thread per {op} (callgrind; server in another process)")
    for seed, plain, recorded in results:
        print(f"  seed {seed:>3}: plain {plain:10.0f}  recorded {recorded:10.0f}"
              f"  extra {recorded - plain:+8.0f}  ratio {recorded / plain:.4f}")  # fmt: skip
    ratios = [recorded / plain for _, plain, recorded in results]
    extras = [recorded - plain for _, plain, recorded in results]
    print(f"  median over {len(results)} seeds: extra {statistics.median(extras):+.0f}"
          f" instructions, ratio {statistics.median(ratios):.4f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--op", choices=("read", "patch", "watch"), default="read")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--pod", choices=sorted(SHAPES), default="cluster")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", default="", help=argparse.SUPPRESS)
    parser.add_argument("--counts", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.pod)
        return
    if args.client:
        plain_calls, recorded_calls = (int(part) for part in args.counts.split(","))
        client_run(args.client, args.op, plain_calls, recorded_calls)
        return
    if shutil.which("valgrind") is None:
        sys.exit("bench.recorder_instructions needs valgrind (apt install valgrind)")
    seeds = [seed.strip() for seed in args.seeds.split(",") if seed.strip().isdigit()][:16]
    server = subprocess.Popen([sys.executable, "-m", __spec__.name, "--serve", "--pod", args.pod],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        url = (server.stdout.readline() if server.stdout else "").strip()
        results = [(seed, *per_call(url, args.op, seed)) for seed in seeds]
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(60)
    report(args.op, results)


if __name__ == "__main__":
    main()
