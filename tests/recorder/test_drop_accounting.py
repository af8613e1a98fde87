"""Dropped watch reads are counted in events: the count matches what the writer loses.

The socket tee counts with ``EventLoss``; here the real writer (``Sink``) decodes the
reads that were kept, after any split of the stream and any choice of reads to drop.
"""

from __future__ import annotations

import io
import itertools
import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.capture import messages as m
from recorder.capture.sink import Sink, SinkConfig
from recorder.capture.socket_tee import EventLoss, events_lost
from tests.recorder.helpers import read_ops

_URL = "/api/v1/namespaces/default/configmaps?watch=true"


def event_line(index: int, padding: int) -> bytes:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"pad": "}" * padding},
           "metadata": {"name": f"cm-{index}", "namespace": "default",
                        "resourceVersion": str(100 + index)}}  # fmt: skip
    return json.dumps({"type": "MODIFIED", "object": obj}, separators=(",", ":")).encode() + b"\n"


def wire(lines: list[bytes], framing: int) -> bytes:
    if framing == m.FRAMING_IDENTITY:
        return b"".join(lines)
    return b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in lines) + b"0\r\n\r\n"


def counted_and_kept(
    pieces: list[bytes], dropped: list[bool], framing: int
) -> tuple[int, list[m.Message]]:
    """What the tee counts as lost, and the queue messages it keeps (a negative stream
    after a gap, as ``SocketTee._record`` queues them)."""
    loss, lost, gap = EventLoss(framing), 0, False
    kept_messages: list[m.Message] = []
    for index, (piece, drop) in enumerate(zip(pieces, dropped, strict=True)):
        if not drop:
            kept_messages.append((-1 if gap else 1, index, piece))
        lost += loss.after(piece, not drop)
        gap = drop
    return lost, kept_messages


def recorded_names(messages: list[m.Message], framing: int) -> list[str]:
    with tempfile.TemporaryDirectory() as work:
        path = str(Path(work) / "w.db")
        sink = Sink(SinkConfig(path=path, session_id="s1", redaction_key="00" * 32))
        opened = (m.WATCH_OPEN, 1, 0, _URL, "MainThread", (), 0, framing)
        frame = m.encode_frame([opened, *messages, (m.WATCH_CLOSE, (1, 0))])
        sink.handle(m.read_frame(io.BytesIO(frame)) or [])
        sink.handle([(m.END, 0)])
        return [op.name for op in read_ops(path)[0] if op.verb == "watch"]


@settings(max_examples=60, deadline=None)
@given(
    paddings=st.lists(st.integers(0, 120), min_size=1, max_size=12),
    cuts=st.lists(st.integers(0, 1 << 16), max_size=30),
    drops=st.lists(st.booleans(), min_size=1, max_size=40),
    framing=st.sampled_from([m.FRAMING_CHUNKED, m.FRAMING_IDENTITY]),
)
def test_events_recorded_plus_events_counted_lost_are_all_events(
    paddings: list[int], cuts: list[int], drops: list[bool], framing: int
) -> None:
    lines = [event_line(index, padding) for index, padding in enumerate(paddings)]
    body = wire(lines, framing)
    bounds = [0, *sorted({cut % (len(body) + 1) for cut in cuts}), len(body)]
    pieces = [body[start:stop] for start, stop in itertools.pairwise(bounds) if stop > start]
    dropped = [drops[index % len(drops)] for index in range(len(pieces))]
    lost, kept = counted_and_kept(pieces, dropped, framing)
    names = recorded_names(kept, framing)
    assert len(names) + lost == len(lines)
    assert names == sorted(names, key=lambda name: int(name[3:]))  # whole events, in order


def test_a_read_of_framing_only_costs_nothing_and_keeps_the_state() -> None:
    assert events_lost(b"\r\n", False, m.FRAMING_CHUNKED, False) == (0, False)
    assert events_lost(b"\r\n", False, m.FRAMING_CHUNKED, True) == (0, True)
    assert events_lost(b'0.5"}}', False, m.FRAMING_CHUNKED, False) == (0, True)  # mid-event
    assert events_lost(b'"}}\n', True, m.FRAMING_CHUNKED, True) == (1, False)
    assert events_lost(b"}\n\r\n1a", False, m.FRAMING_CHUNKED, False) == (1, True)
