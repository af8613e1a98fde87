"""``--actor`` must name an actor of the session: replaying an absent one would pass
vacuously ("no divergence", exit 0). It is an error like an unknown session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kreplay_dap.live.backend import check_actor
from recorder.errors import InvalidInputError
from recorder.storage import open_recording
from tests.cli.clirun import assert_one_line_error, run_script
from tests.live.test_busiest_writer import PLAN, recording_file


def test_an_actor_of_the_session_is_accepted_and_another_is_an_error(tmp_path: Path) -> None:
    recording = open_recording(str(recording_file(tmp_path, PLAN)))
    try:
        assert check_actor(recording, "s", "c") == "c"  # reads and watches only: still present
        with pytest.raises(InvalidInputError) as raised:
            check_actor(recording, "s", "no-such-actor")
    finally:
        recording.close()
    assert str(raised.value) == (
        "unknown actor 'no-such-actor' in session 's'; actors in this session: b, a, c"
    )


def test_live_with_an_absent_actor_exits_2_before_starting_the_operator(tmp_path: Path) -> None:
    path = recording_file(tmp_path, PLAN)
    marker = tmp_path / "started"
    operator = f"open({str(marker)!r}, 'w').close()"
    run = run_script(
        ["live", "s", "-d", str(path), "--actor", "no-such-actor", "--", sys.executable, "-c",
         operator],
        tmp_path,
    )  # fmt: skip
    assert_one_line_error(run, r"unknown actor 'no-such-actor' in session 's'; actors in this")
    assert not marker.exists()
