"""Exception filters on kreplay files see errors recorded only in the HTTP status (error
code 0, as imported files and transport failures have them) and watch ERROR events, in
both directions, with and without the ``ops_by_http_status`` index."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from kreplay_dap.replay.breakpoints import exception_filter, parse_find_terms
from kreplay_dap.replay.engine import ReplayEngine
from kreplay_dap.replay.queries import OpFilter, ScanControl
from recorder.storage import Operation, RecordingWriter, SessionInfo, open_recording

SESSION = "status-only"
# seq -> (verb, status_code, error_code, event_type)
OPS: dict[int, tuple[str, int, int, str]] = {
    1: ("get", 200, 0, ""),
    2: ("update", 409, 0, ""),  # conflict known only from the status
    3: ("get", 200, 0, ""),
    4: ("get", 404, 0, ""),
    5: ("update", 409, 409, ""),  # conflict with both fields
    6: ("list", 403, 0, ""),
    7: ("get", 503, 0, ""),
    8: ("watch", 200, 0, "ERROR"),  # watch ERROR without a code
    9: ("get", 200, 0, ""),
    10: ("patch", 500, 500, ""),
    11: ("get", 200, 0, ""),
}


def _op(seq: int) -> Operation:
    verb, status, code, event = OPS[seq]
    op = Operation(SESSION, seq, seq, verb, kind="Pod", namespace="default", name="p")
    op.status_code, op.error_code, op.event_type = status, code, event
    return op


def _write(path: Path) -> None:
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo(SESSION, started_ns=1))
        writer.append([_op(seq) for seq in OPS])
        writer.end_session(SESSION)


@pytest.fixture(params=["indexed", "older file"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReplayEngine]:
    path = tmp_path / "r.db"
    _write(path)
    if request.param == "older file":  # what a version-3 file looks like
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("DROP INDEX ops_by_http_status")
        conn.close()
    recording = open_recording(str(path))
    yield ReplayEngine(recording, SESSION)
    recording.close()


def _all_matches(engine: ReplayEngine, op_filter: OpFilter, forward: bool) -> list[int]:
    found: list[int] = []
    seq = 0 if forward else len(OPS) + 1
    for _ in range(len(OPS) + 1):
        nxt = engine.queries.next_match(op_filter, seq, forward, ScanControl())
        if nxt is None:
            break
        found.append(nxt)
        seq = nxt
    return found if forward else found[::-1]


def _expected(op_filter: OpFilter, engine: ReplayEngine) -> list[int]:
    return [seq for seq in OPS if op_filter.matches(engine.operation(seq))]


@pytest.mark.parametrize(
    ("filter_id", "seqs"),
    [
        ("conflict", [2, 5]),
        ("notfound", [4]),
        ("forbidden", [6]),
        ("server", [7, 10]),
        ("errors", [2, 4, 5, 6, 7, 8, 10]),
    ],
)
def test_exception_filters_match_is_error_in_both_directions(
    engine: ReplayEngine, filter_id: str, seqs: list[int]
) -> None:
    op_filter = exception_filter(filter_id, 1000)
    assert op_filter is not None
    assert _expected(op_filter, engine) == seqs  # the Python semantics agree
    assert _all_matches(engine, op_filter, forward=True) == seqs
    assert _all_matches(engine, op_filter, forward=False) == seqs


def test_code_terms_with_a_kind_use_the_status_too(engine: ReplayEngine) -> None:
    op_filter = parse_find_terms(["kind=Pod", "code=409"])
    assert _all_matches(engine, op_filter, forward=True) == [2, 5]
    op_filter = parse_find_terms(["verb=get", "code=503,404"])
    assert _all_matches(engine, op_filter, forward=False) == [4, 7]


def test_the_status_lookup_uses_the_index(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    _write(path)
    recording = open_recording(str(path))
    engine = ReplayEngine(recording, SESSION)
    plans = engine.queries._sql._error_plans(exception_filter("notfound", 1000))  # type: ignore[union-attr, arg-type]
    assert plans is not None and any("ops_by_http_status" in where for where, _ in plans)
    conn = recording.connection  # type: ignore[attr-defined]
    where, params = next(p for p in plans if "ops_by_http_status" in p[0])
    detail = " ".join(
        str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN SELECT seq FROM {where}", params)
    )
    assert "ops_by_http_status" in detail and "SCAN" not in detail
    recording.close()
