"""Fixtures: the replay scenario recording, built once per test module."""

from __future__ import annotations

import pytest

from tests.replay.scenario import Scenario, build_scenario


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return build_scenario(tmp_path_factory.mktemp("dap"))
