"""The listing built by SQLite says exactly what ``present.listing_line`` says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kreplay_dap.dap.listing import Listing, _listing_rows
from kreplay_dap.dap.present import listing_line
from recorder.storage import Operation, RecordingWriter, SessionInfo, open_recording
from recorder.storage.reader import KreplayRecording

SESSION = "listing"
# Quotes, backslashes, control characters, spaces at the ends, non-ASCII: what escaping and
# trimming must agree on. (Exotic Unicode spaces, which Python's strip() also removes, cannot
# appear in Kubernetes kinds and names.)
TEXT = st.text(alphabet=st.sampled_from(list(' \t\n"\\\x01aZ-./é中🙂')), max_size=8)
VERBS = st.sampled_from(["get", "list", "create", "update", "patch", "delete", "watch"])
CODES = st.sampled_from([0, 200, 404, 409, 500])


@st.composite
def operations(draw: st.DrawFn) -> list[Operation]:
    count = draw(st.integers(min_value=1, max_value=12))
    ops = []
    for seq in sorted(draw(st.sets(st.integers(1, 40), min_size=count, max_size=count))):
        verb = draw(VERBS)
        op = Operation(SESSION, seq, seq, verb, kind=draw(TEXT), namespace=draw(TEXT))
        op.name, op.api_version, op.subresource = draw(TEXT), draw(TEXT), draw(TEXT)
        op.event_type = draw(st.sampled_from(["ADDED", "ERROR"])) if verb == "watch" else ""
        op.status_code, op.error_code = draw(CODES), draw(CODES)
        op.error_reason, op.actor, op.thread = draw(TEXT), draw(TEXT), draw(TEXT)
        ops.append(op)
    return ops


def write(path: Path, ops: list[Operation]) -> None:
    with RecordingWriter(str(path)) as writer:
        writer.begin_session(SessionInfo(SESSION, started_ns=1))
        writer.append(ops)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations())
def test_sql_lines_equal_python_lines(
    tmp_path_factory: pytest.TempPathFactory, ops: list[Operation]
) -> None:
    path = tmp_path_factory.mktemp("listing") / "rec.db"
    write(path, ops)
    recording = open_recording(str(path))
    try:
        assert isinstance(recording, KreplayRecording)
        built = list(_listing_rows(str(path), SESSION))
        expected = [(op.seq, listing_line(op)) for op in recording.operations(SESSION)]
    finally:
        recording.close()
    assert [(seq, json.loads(f'"{escaped}"')) for seq, escaped in built] == expected


def test_the_built_listing_has_one_line_per_seq(tmp_path: Path) -> None:
    ops = [Operation(SESSION, seq, seq, "get", kind="Pod", name=f"p{seq}") for seq in (2, 3, 6)]
    ops[1].status_code, ops[1].error_code, ops[1].error_reason = 409, 409, "Conflict"
    write(tmp_path / "rec.db", ops)
    recording = open_recording(str(tmp_path / "rec.db"))
    listing = Listing(recording, SESSION, first_seq=2)
    try:
        text = listing.text()
        text.file.seek(0)
        lines = json.loads('"' + text.file.read().decode() + '"').split("\n")
    finally:
        listing.close()
        recording.close()
    assert lines == ["#2 GET  Pod p2 -> - []", "#3 GET  Pod p3 -> 409 Conflict []", "", "",
                     "#6 GET  Pod p6 -> - []", ""]  # fmt: skip
