"""Fixtures: the replay scenario recording (built once per test module) and an engine on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kreplay_dap.replay.engine import ReplayEngine
from recorder.storage import open_recording

from .scenario import SESSION, Scenario, build_scenario


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build_scenario(tmp_path_factory.mktemp("scenario"))


@pytest.fixture
def engine(scenario: Scenario) -> Iterator[ReplayEngine]:
    recording = open_recording(str(scenario.path))
    yield ReplayEngine(recording, SESSION)
    recording.close()
