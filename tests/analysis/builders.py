"""Small hand-written sessions for the detector tests, built on the scenario simulator."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from recorder.storage import RecordingWriter, SessionInfo
from samples.scenarios.sim import Key, Sim, setter

__all__ = ["Key", "Sim", "setter"]

NS = "shop"


def new_sim(name: str = "s1", seed: int = 1) -> Sim:
    return Sim(name, random.Random(seed))


def gadget(sim: Sim, name: str) -> Key:
    key = ("Gadget", NS, name)
    sim.create("gadget-admin", key, {"size": 1})
    return key


def save(sim: Sim, path: Path) -> Path:
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo(sim.session_id, started_ns=sim.ops[0].ts_ns))
        writer.upsert_spans(sim.spans)
        writer.append(sim.ops)
        writer.end_session(sim.session_id, sim.now_ns)
    return path


def reconcile_status(sim: Sim, actor: str, key: Key, count: int, noop: bool = False) -> None:
    """One reconcile: get, then a status write (a counter unless ``noop``)."""
    span = sim.begin(actor, key, "watch")
    sim.get(actor, key, span)
    change = setter(
        "status", "lastReconcileTime" if noop else "count", sim.stamp() if noop else count
    )
    sim.write(actor, key, change, span, sub="status")
    sim.end(span)


def resync(sim: Sim, actor: str, keys: list[Key], period_s: float, rounds: int) -> None:
    for _ in range(rounds):
        sim.now_ns += int(period_s * 1e9)
        for key in keys:
            span = sim.begin(actor, key, "resync")
            sim.get(actor, key, span)
            sim.end(span)


SEED_SCHEMA = (
    "CREATE TABLE operations (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL,"
    " sequence_number INTEGER NOT NULL, timestamp INTEGER NOT NULL, operation_type TEXT NOT NULL,"
    " resource_kind TEXT NOT NULL, namespace TEXT, name TEXT, resource_data TEXT, error TEXT,"
    " duration_ms INTEGER NOT NULL)"
)


def seed_file(path: Path, rows: list[tuple[object, ...]]) -> Path:
    """A file in the Go tool's v1 schema: (seq, ts_s, verb, kind, ns, name, data, error, ms)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(SEED_SCHEMA)
        conn.executemany(
            "INSERT INTO operations (session_id, sequence_number, timestamp, operation_type,"
            " resource_kind, namespace, name, resource_data, error, duration_ms)"
            " VALUES ('go-1',?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.commit()
    finally:
        conn.close()
    return path
