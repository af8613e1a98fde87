"""The Cluster view of an object deleted and re-created several times: at each step it is
present exactly while it exists, through the index and through the reader protocol."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kreplay_dap.replay.engine import ReplayEngine
from kreplay_dap.replay.queries import _protocol_lifetimes
from recorder.storage import ObjectRef, Operation, RecordingWriter, SessionInfo, open_recording

SESSION = "churn"
POD = ObjectRef("Pod", "default", "p")
# seq -> (verb, event_type, status_code); every op is on Pod default/p except "other".
OPS: dict[int, tuple[str, str, int]] = {
    1: ("create", "", 201),
    2: ("get", "", 200),
    3: ("delete", "", 200),
    4: ("other", "", 200),
    5: ("create", "", 201),
    6: ("watch", "ADDED", 200),
    7: ("watch", "DELETED", 200),
    8: ("get", "", 404),  # a failed read says nothing
    9: ("other", "", 200),
    10: ("get", "", 200),  # seen again: re-created with no recorded create
    11: ("delete", "", 200),
    12: ("watch", "DELETED", 200),  # the echo of the same delete
    13: ("other", "", 200),
    14: ("update", "", 200),
    15: ("other", "", 200),
}
EXISTS = {1, 2, 5, 6, 10, 14, 15}


def _op(seq: int) -> Operation:
    verb, event, status = OPS[seq]
    name = "anchor" if verb == "other" else "p"
    body = json.dumps({"kind": "Pod", "metadata": {"name": name, "namespace": "default"}})
    op = Operation(SESSION, seq, seq, "get" if verb == "other" else verb, kind="Pod", name=name)
    op.namespace, op.event_type, op.status_code = "default", event, status
    op.error_code = status if status >= 400 else 0
    op.response_body = body.encode() if status < 400 else None
    return op


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[ReplayEngine]:
    path = tmp_path / "churn.db"
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo(SESSION, started_ns=1))
        writer.append([_op(seq) for seq in OPS])
        writer.end_session(SESSION)
    recording = open_recording(str(path))
    yield ReplayEngine(recording, SESSION)
    recording.close()


def _present(engine: ReplayEngine, seq: int) -> bool:
    return "p" in [ref.name for ref in engine.cluster.at(seq).get("Pod", {}).get("default", [])]


def test_cluster_view_follows_every_delete_and_recreate(engine: ReplayEngine) -> None:
    assert {seq for seq in OPS if _present(engine, seq)} == EXISTS


def test_protocol_lifetimes_agree_with_the_index(engine: ReplayEngine) -> None:
    (lifetime,) = [
        item for item in _protocol_lifetimes(engine.recording, SESSION) if item.ref == POD
    ]
    assert {seq for seq in OPS if lifetime.exists_at(seq)} == EXISTS
    (indexed,) = [item for item in engine.queries.object_lifetimes() if item.ref == POD]
    assert indexed.toggles == lifetime.toggles == [1, 3, 5, 7, 10, 11, 14]


def test_the_object_scope_agrees_with_the_cluster_view(engine: ReplayEngine) -> None:
    for seq in OPS:
        version = engine.history.version_at(POD, seq)
        shown = version is not None and not version.deleted
        assert shown == (seq in EXISTS), seq
