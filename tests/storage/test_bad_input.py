"""Every unusable input is one line naming the file and what is wrong, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder.errors import KreplayError, NotARecordingError, UnknownSessionError
from recorder.storage import open_recording
from tests.storage.badfiles import CASES, corrupt_pages, real_recording


@pytest.mark.parametrize("case", sorted(CASES))
def test_unusable_file_is_one_line_error(tmp_path: Path, case: str) -> None:
    make, pattern = CASES[case]
    path = make(tmp_path)
    with pytest.raises(NotARecordingError, match=pattern) as caught:
        recording = open_recording(str(path))
        recording.sessions()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))


def test_corrupt_pages_in_the_middle_fail_on_read_with_one_line(tmp_path: Path) -> None:
    path = corrupt_pages(tmp_path)
    with pytest.raises(KreplayError) as caught:
        recording = open_recording(str(path))
        for info in recording.sessions():
            for op in recording.operations(info.session_id):
                recording.body(op.response_ref)
    assert "corrupt" in str(caught.value) and "\n" not in str(caught.value)


def test_unknown_session_lists_the_sessions_that_exist(tmp_path: Path) -> None:
    recording = open_recording(str(real_recording(tmp_path / "r.db", ops=10)))
    with pytest.raises(UnknownSessionError) as caught:
        recording.session("nope")
    assert str(caught.value) == "unknown session 'nope'; sessions in this file: s1, s2"
    with pytest.raises(UnknownSessionError):
        recording.operation("nope", 1)
    with pytest.raises(UnknownSessionError):
        list(recording.operations("nope"))


def test_unknown_session_message_is_bounded() -> None:
    error = UnknownSessionError("x", [f"session-{i}" for i in range(500)])
    assert str(error).endswith("session-19 (+480 more)")
