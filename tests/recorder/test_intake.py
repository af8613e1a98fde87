"""The writer's intake: frames that arrive together are written together, a flush or the
end of input is never held back."""

from __future__ import annotations

import io
import os

from recorder.capture import messages as m
from recorder.capture.intake import Intake


def _frames(*frames: list[m.Message]) -> bytes:
    return b"".join(m.encode_frame(frame) for frame in frames)


def test_frames_up_to_a_flush_come_as_one_batch_in_order() -> None:
    call = (m.CALL, 1, 2, "GET", "/api/v1/pods", "", None, 200, "OK", b"{}", "", "", "t", (), 0)
    stream = io.BytesIO(
        _frames([(m.DROPPED, 1)], [(7, 10, b"a\n"), call], [(m.FLUSH, 3)], [(m.DROPPED, 2)])
    )
    intake = Intake(stream)
    assert intake.next_batch() == [
        (m.DROPPED, 1), (m.WATCH_RUN, (7,), (10,), [b"a\n"]), call, (m.FLUSH, 3)
    ]  # fmt: skip
    last = intake.next_batch()
    assert last[0] == (m.DROPPED, 2) and last[1][0] == m.END and len(last) == 2
    assert intake.ended and intake.error is None
    assert intake.next_batch()[0][0] == m.END  # asked again after the end: still the end


def test_what_is_held_is_written_when_the_input_ends_on_a_pipe() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb", buffering=0) as stream:
        os.write(write_end, _frames([(m.DROPPED, 1)], [(m.DROPPED, 2)]))
        os.close(write_end)
        batch = Intake(stream).next_batch()
    assert batch[:2] == [(m.DROPPED, 1), (m.DROPPED, 2)] and batch[2][0] == m.END


def test_a_malformed_frame_ends_the_input_with_the_error_kept() -> None:
    stream = io.BytesIO(_frames([(m.DROPPED, 1)]) + b"\x00\x00\x00\x05\x00\x00\x00\x00junk!")
    intake = Intake(stream)
    batch = intake.next_batch()
    assert batch[0] == (m.DROPPED, 1) and batch[1][0] == m.END
    assert intake.ended and intake.error is not None
