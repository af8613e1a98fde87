"""Lookups by object, call site and verb/kind give the same answers from the runs of format
version 6, from the indexes of a version-5 file read as it is, and from a version-5 file
upgraded by a writer; and the same as a plain walk over every operation."""

from __future__ import annotations

import itertools
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from kreplay_dap.replay.queries import OpFilter, Queries, ScanControl
from recorder.storage import (
    CallFrame,
    ObjectRef,
    Operation,
    RecordingWriter,
    SessionInfo,
    open_recording,
    runs,
)
from recorder.storage.reader import KreplayRecording
from tests.storage.downgrade import downgrade

SITES = (
    (CallFrame("ctl/widget.py", 10, "reconcile"), CallFrame("ctl/main.py", 3, "run")),
    (CallFrame("ctl/widget.py", 22, "status"),),
    (CallFrame("ctl/gc.py", 7, "sweep"),),
    (),
)
NAMES = [f"obj-{n}" for n in range(30)]


def _op(rng: random.Random, session: str, name: str, seq_hint: int) -> Operation:
    verb = rng.choice(("get", "get", "update", "patch", "create", "delete", "watch", "list"))
    event = rng.choice(("ADDED", "MODIFIED", "MODIFIED", "DELETED")) if verb == "watch" else ""
    failed = rng.random() < 0.15
    kind = "Pod" if name == "hot" else rng.choice(("Pod", "ConfigMap"))
    return Operation(
        session, 0, seq_hint, verb, event_type=event, kind=kind,
        namespace="ns", name="" if verb == "list" else name,
        response_body=None if failed or rng.random() < 0.1 else b'{"n":%d}' % seq_hint,
        status_code=rng.choice((404, 409, 500)) if failed else (0 if verb == "watch" else 200),
        error_code=409 if failed and rng.random() < 0.5 else 0,
        call_site=rng.choice(SITES), thread=rng.choice(("t1", "t2")),
    )  # fmt: skip


def write_sessions(path: Path) -> None:
    rng = random.Random(5)
    with RecordingWriter(str(path)) as writer:
        for session in ("s1", "s2"):
            writer.begin_session(SessionInfo(session))
        for batch_number in range(14):
            size = 1200 if batch_number == 3 else rng.choice((1, 7, 90, 300, 700))
            batch = []
            for index in range(size):
                session = "s2" if batch_number % 5 == 4 and index % 3 == 0 else "s1"
                # A hot object: more than one run's worth in one batch.
                name = "hot" if batch_number == 3 else rng.choice(NAMES[: 5 + batch_number * 2])
                batch.append(_op(rng, session, name, batch_number * 1000 + index))
            writer.append(batch)


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("runs")
    native = base / "v6.db"
    write_sessions(native)
    legacy, upgraded = base / "v5.db", base / "upgraded.db"
    shutil.copy(native, legacy)
    downgrade(legacy, 5)
    shutil.copy(legacy, upgraded)
    RecordingWriter(str(upgraded)).close()  # the v6 migration builds the runs
    return {"runs": native, "indexes": legacy, "migrated": upgraded}


def answers(path: Path, session: str) -> dict[str, Any]:
    recording = open_recording(str(path))
    assert isinstance(recording, KreplayRecording)
    queries, control = Queries(recording, session), ScanControl()
    seqs = [op.seq for op in recording.operations(session)]
    probes = [*seqs[:: max(1, len(seqs) // 40)], 0, seqs[-1] + 5]
    refs = sorted(set(recording.objects(session)), key=str)
    out: dict[str, Any] = {
        "files": recording.callsite_files(session),
        "by_file": {f: [o.seq for o in recording.callsite_operations(session, f)] for f in
                    ("ctl/widget.py", "ctl/gc.py")},
        "lines": [queries.callsite_seqs(site[0].file, site[0].line) for site in SITES if site],
        "lifetimes": sorted((str(t.ref), t.toggles) for t in queries.object_lifetimes()),
    }  # fmt: skip
    filters = (
        OpFilter(kind="Pod", verbs=frozenset({"update", "patch"})),
        OpFilter(kind="ConfigMap", errors_only=True),
        OpFilter(name="obj-3"),
        OpFilter(name="hot", verbs=frozenset({"get"}), thread="t2"),
    )
    for seq in probes:
        for forward in (True, False):
            near = recording.object_neighbor(session, seq, forward) if seq in seqs else None
            out[f"near {seq} {forward}"] = None if near is None else near.seq
            out[f"match {seq} {forward}"] = [
                queries.next_match(f, seq, forward, control) for f in filters
            ]
            for ref in refs[:: max(1, len(refs) // 6)]:
                state = list(queries.state_rows(ref, seq, forward, 10_000))
                out[f"state {ref} {seq} {forward}"] = (queries.state_seq(ref, seq, forward), state)
    for ref in refs:
        out[f"ops {ref}"] = [o.seq for o in recording.object_operations(session, ref)]
        middle = seqs[len(seqs) // 2]
        out[f"back {ref}"] = [
            o.seq for o in recording.object_operations(session, ref, middle, True)
        ]
    recording.close()
    return out


@pytest.mark.parametrize("session", ["s1", "s2"])
def test_runs_indexes_and_migrated_runs_agree(variants: dict[str, Path], session: str) -> None:
    found = {name: answers(path, session) for name, path in variants.items()}
    assert found["runs"] == found["indexes"] == found["migrated"]
    assert any(found["runs"][key] for key in found["runs"] if key.startswith("match"))


def test_lookups_agree_with_a_walk_over_every_operation(variants: dict[str, Path]) -> None:
    recording = open_recording(str(variants["runs"]))
    everything = list(recording.operations("s1"))
    for ref in {op.object_ref for op in everything}:
        mine = [op.seq for op in everything if op.object_ref == ref]
        assert [op.seq for op in recording.object_operations("s1", ref)] == mine
        for before, after in itertools.pairwise(mine):
            following = recording.object_neighbor("s1", before, forward=True)
            assert following is not None and following.seq == after
    queries = Queries(recording, "s1")
    wanted = OpFilter(kind="Pod", verbs=frozenset({"update"}))
    matching = [op.seq for op in everything if wanted.matches(op)]
    assert queries.next_match(wanted, 0, True, ScanControl()) == matching[0]
    assert queries.next_match(wanted, matching[-1], True, ScanControl()) is None
    recording.close()


def test_a_hot_object_is_split_into_runs_of_bounded_size(variants: dict[str, Path]) -> None:
    recording = open_recording(str(variants["runs"]))
    conn = recording.connection  # type: ignore[attr-defined]
    hot = recording.object_id("s1", ObjectRef("Pod", "ns", "hot"))  # type: ignore[attr-defined]
    sizes = [
        int(n)
        for (n,) in conn.execute(
            "SELECT json_array_length(seqs) FROM object_runs WHERE object_id = ?", (hot,)
        )
    ]
    assert len(sizes) >= 2 and max(sizes) == runs.RUN_MAX_SEQS
    recording.close()
