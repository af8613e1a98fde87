"""Compact storage: identical bodies stored once, versions of one object as small deltas."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from recorder.errors import NotARecordingError, RecordingError
from recorder.storage import Operation, RecordingWriter, SessionInfo, codec, open_recording
from recorder.storage.codec import CODEC_RAW, CODEC_ZSTD, CODEC_ZSTD_DELTA, digest

SESSION = "s1"


def big_object(name: str, rv: int) -> bytes:
    """A ~2.5 KB object whose versions differ in resourceVersion and a timestamp."""
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "prod",
            "resourceVersion": str(rv),
            "labels": {f"label-{i}": f"value-{i}" for i in range(20)},
            "annotations": {f"example.com/note-{i}": "x" * 40 for i in range(20)},
            "managedFields": [{"manager": "widget", "time": f"2026-01-01T00:00:{rv % 60:02d}Z"}],
        },
        "spec": {"replicas": 3, "template": {"spec": {"containers": [{"image": "app:1"}]}}},
        "status": {"observedGeneration": rv},
    }
    return json.dumps(body).encode()


def blob_rows(path: Path) -> list[tuple[int, int, int]]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT codec, raw_size, length(data) FROM blobs ORDER BY id").fetchall()
    conn.close()
    return [(int(a), int(b), int(c)) for a, b, c in rows]


def write(path: Path, bodies: list[bytes], name: str = "web") -> None:
    with RecordingWriter(str(path)) as writer:
        if SESSION not in writer.session_ids():
            writer.begin_session(SessionInfo(SESSION))
        writer.append(
            [
                Operation(SESSION, 0, i, "get", kind="Deployment", name=name, response_body=b)
                for i, b in enumerate(bodies)
            ]
        )


def test_identical_bodies_are_stored_once(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    body = big_object("web", 1)
    write(path, [body] * 1000)
    write(path, [bytes(body)] * 10, name="other")  # another writer, another object: still once
    assert len(blob_rows(path)) == 1
    recording = open_recording(str(path))
    assert recording.session(SESSION).op_count == 1010
    refs = {op.response_ref for op in recording.operations(SESSION)}
    assert len(refs) == 1
    assert recording.body(refs.pop()) == body


def test_versions_of_one_object_are_small_deltas(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    bodies = [big_object("web", rv) for rv in range(1, 201)]
    write(path, bodies)
    rows = blob_rows(path)
    keyframes = [row for row in rows if row[0] == CODEC_ZSTD]
    deltas = [row for row in rows if row[0] == CODEC_ZSTD_DELTA]
    assert len(rows) == 200 and len(keyframes) < 10
    assert max(size for _, _, size in deltas) < 120
    raw = sum(len(body) for body in bodies)
    stored = sum(size for _, _, size in rows)
    assert stored < raw * 0.05
    recording = open_recording(str(path))
    for op, body in zip(recording.operations(SESSION), bodies, strict=True):
        assert recording.body(op.response_ref) == body


def test_small_bodies_are_kept_raw(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    write(path, [b'{"a":1}', b""])
    assert [row[0] for row in blob_rows(path)] == [CODEC_RAW, CODEC_RAW]
    recording = open_recording(str(path))
    assert [recording.body(op.response_ref) for op in recording.operations(SESSION)] == [
        b'{"a":1}',
        b"",
    ]


def test_dedup_survives_a_rolled_back_batch(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo(SESSION))
        first = big_object("web", 1)
        bad = [
            Operation(SESSION, 1, 1, "get", name="web", response_body=first),
            Operation(SESSION, 1, 2, "get", name="web", response_body=big_object("web", 2)),
        ]
        with pytest.raises(RecordingError, match="not after"):
            writer.append(bad)  # the second op repeats seq 1: the whole batch rolls back
        writer.append([Operation(SESSION, 0, 3, "get", name="web", response_body=first)])
    assert len(blob_rows(path)) == 1
    recording = open_recording(str(path))
    op = recording.operation(SESSION, 1)
    assert op is not None and recording.body(op.response_ref) == first


def test_a_corrupt_body_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    write(path, [big_object("web", 1)])
    conn = sqlite3.connect(path)
    conn.execute("UPDATE blobs SET data = x'00112233445566778899'")
    conn.commit()
    conn.close()
    recording = open_recording(str(path))
    op = recording.operation(SESSION, 1)
    assert op is not None
    with pytest.raises(NotARecordingError, match=r"body \d+ is corrupt") as caught:
        recording.body(op.response_ref)
    assert "\n" not in str(caught.value)


def test_blobs_are_keyed_by_the_documented_digest(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    body = big_object("web", 1)
    write(path, [body])
    conn = sqlite3.connect(path)
    (stored,) = conn.execute("SELECT digest FROM blobs").fetchone()
    conn.close()
    assert stored == digest(body) == hashlib.sha256(body).digest()[:16]


def test_dedup_searches_a_bounded_window_of_the_newest_bodies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codec, "_DIGEST_WINDOW", 4)  # two generations of four digests
    path = tmp_path / "r.db"
    bodies = [big_object(f"o{n}", 1) for n in range(12)]
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo(SESSION))
        for n, body in enumerate(bodies):
            writer.append([Operation(SESSION, 0, n, "get", name=f"o{n}", response_body=body)])
        # Other objects, so the per-object "same as last time" shortcut cannot answer.
        writer.append([Operation(SESSION, 0, 20, "get", name="x", response_body=bodies[5])])
        writer.append([Operation(SESSION, 0, 21, "get", name="y", response_body=bodies[0])])
    assert len(blob_rows(path)) == 13  # the 6th body was found, the 1st was forgotten
    recording = open_recording(str(path))
    ops = list(recording.operations(SESSION))
    assert ops[12].response_ref == ops[5].response_ref
    assert ops[13].response_ref != ops[0].response_ref
    assert recording.body(ops[13].response_ref) == recording.body(ops[0].response_ref) == bodies[0]


@pytest.mark.parametrize("labels", [20, 600])  # under and over the 16 KiB keyframe size
def test_versions_of_small_and_large_objects_are_small_deltas(tmp_path: Path, labels: int) -> None:
    def version(rv: int) -> bytes:
        body = {
            "kind": "ConfigMap",
            "metadata": {"name": "cfg", "resourceVersion": str(rv)},
            "data": {f"key-{i}": f"value-{i}-{i * 7919 % 1000}" for i in range(labels)},
        }
        return json.dumps(body).encode()

    path = tmp_path / "r.db"
    bodies = [version(rv) for rv in range(1, 41)]
    write(path, bodies)
    rows = blob_rows(path)
    assert (len(bodies[0]) > 16 << 10) == (labels > 100)
    assert [codec for codec, _, _ in rows].count(CODEC_ZSTD) == 1
    assert max(size for codec, _, size in rows if codec == CODEC_ZSTD_DELTA) < 80
    recording = open_recording(str(path))
    for op, body in zip(recording.operations(SESSION), bodies, strict=True):
        assert recording.body(op.response_ref) == body
