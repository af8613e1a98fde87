"""``samples/.vscode/launch.json`` names real recordings and sessions, with valid arguments."""

from __future__ import annotations

import json

import jsonschema  # type: ignore[import-untyped]

from recorder.storage import open_recording
from tests.samples.harness import REPO_ROOT

SAMPLES = REPO_ROOT / "samples"
SCHEMA = json.loads((REPO_ROOT / "kreplay_dap" / "dap" / "launch_arguments.json").read_text())
VSCODE_KEYS = {"type", "request", "name"}


def test_every_configuration_replays_a_committed_session() -> None:
    document = json.loads((SAMPLES / ".vscode" / "launch.json").read_text())
    configurations = document["configurations"]
    assert len(configurations) == 6  # three samples, buggy and fixed
    for config in configurations:
        assert config["type"] == "kreplay" and config["request"] == "launch"
        arguments = {key: value for key, value in config.items() if key not in VSCODE_KEYS}
        jsonschema.validate(arguments, SCHEMA)
        database = config["database"].replace("${workspaceFolder}", str(SAMPLES))
        recording = open_recording(database)
        try:
            recording.session(config["session"])  # raises UnknownSessionError
            files = recording.callsite_files(config["session"])
        finally:
            recording.close()
        # The call sites name the checkout the recordings were made in; the mapping
        # must turn them into this folder's files.
        [mapping] = config["pathMappings"]
        assert mapping["localRoot"] == "${workspaceFolder}"
        assert files
        for name in files:
            assert name.startswith(mapping["remoteRoot"] + "/operators/"), name
            local = SAMPLES / name.removeprefix(mapping["remoteRoot"] + "/")
            assert local.is_file(), local
