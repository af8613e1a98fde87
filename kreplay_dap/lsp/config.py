"""The language server's configuration: which recordings to show, and how paths map.

Shaped like the debugger's launch arguments, under the key ``kreplay``::

    {"recordings": [{"database": "/path/recordings.db", "session": "optional"}],
     "pathMappings": [{"localRoot": "/home/me/op", "remoteRoot": "/app"}]}

Parsing never raises: a bad entry is dropped and described in ``problems`` so the
server can show it and keep serving the good ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

MAX_RECORDINGS = 32
MAX_PATH_MAPPINGS = 64
MIN_POLL_MS = 50
DEFAULT_POLL_MS = 1000
MAX_POLL_MS = 60_000
DEFAULT_ANALYSIS_DELAY_MS = 1000
MAX_ANALYSIS_DELAY_MS = 600_000


@dataclass(frozen=True, slots=True)
class RecordingSpec:
    """One configured recording: a database file and, optionally, one session of it."""

    database: str
    session: str | None = None


@dataclass(frozen=True, slots=True)
class PathMapping:
    local_root: str
    remote_root: str


@dataclass(slots=True)
class ServerConfig:
    recordings: list[RecordingSpec] = field(default_factory=list)
    path_mappings: list[PathMapping] = field(default_factory=list)
    poll_interval_ms: int = DEFAULT_POLL_MS
    # Quiet period after a refresh before the whole-session analysis reruns (debounce).
    analysis_delay_ms: int = DEFAULT_ANALYSIS_DELAY_MS
    problems: list[str] = field(default_factory=list)


def parse_config(raw: Any, base_dir: str | None = None) -> ServerConfig:
    """The configuration in ``raw`` (a ``{"kreplay": {...}}`` wrapper or the section itself)."""
    config = ServerConfig()
    if raw is None:
        return config
    section = raw.get("kreplay", raw) if isinstance(raw, dict) else raw
    if section is None:
        return config
    if not isinstance(section, dict):
        config.problems.append("kreplay settings must be an object")
        return config
    config.recordings = _recordings(section.get("recordings", []), base_dir, config.problems)
    config.path_mappings = _mappings(section.get("pathMappings", []), config.problems)
    config.poll_interval_ms = _bounded_ms(
        "pollIntervalMs", section.get("pollIntervalMs"), DEFAULT_POLL_MS, MIN_POLL_MS,
        MAX_POLL_MS, config.problems,
    )  # fmt: skip
    config.analysis_delay_ms = _bounded_ms(
        "analysisDelayMs", section.get("analysisDelayMs"), DEFAULT_ANALYSIS_DELAY_MS, 0,
        MAX_ANALYSIS_DELAY_MS, config.problems,
    )  # fmt: skip
    return config


def _recordings(raw: Any, base_dir: str | None, problems: list[str]) -> list[RecordingSpec]:
    if not isinstance(raw, list):
        problems.append("kreplay.recordings must be a list of {database, session?}")
        return []
    if len(raw) > MAX_RECORDINGS:
        problems.append(f"kreplay.recordings: only the first {MAX_RECORDINGS} are used")
    specs: list[RecordingSpec] = []
    for index, entry in enumerate(raw[:MAX_RECORDINGS]):
        where = f"kreplay.recordings[{index}]"
        database = entry.get("database") if isinstance(entry, dict) else None
        if not isinstance(database, str) or not database.strip():
            problems.append(f"{where}: 'database' (a file path) is required")
            continue
        session = entry.get("session")
        if session is not None and (not isinstance(session, str) or not session):
            problems.append(f"{where}: 'session' must be a non-empty string when given")
            continue
        path = os.path.expanduser(database)
        if base_dir and not os.path.isabs(path):
            path = os.path.join(base_dir, path)
        spec = RecordingSpec(os.path.normpath(path), session)
        if spec not in specs:
            specs.append(spec)
    return specs


def _mappings(raw: Any, problems: list[str]) -> list[PathMapping]:
    if not isinstance(raw, list):
        problems.append("kreplay.pathMappings must be a list of {localRoot, remoteRoot}")
        return []
    mappings: list[PathMapping] = []
    for index, entry in enumerate(raw[:MAX_PATH_MAPPINGS]):
        local = entry.get("localRoot") if isinstance(entry, dict) else None
        remote = entry.get("remoteRoot") if isinstance(entry, dict) else None
        if not isinstance(local, str) or not isinstance(remote, str) or not local or not remote:
            problems.append(f"kreplay.pathMappings[{index}]: localRoot and remoteRoot required")
            continue
        mappings.append(PathMapping(_root(os.path.expanduser(local)), _root(remote)))
    # Longest remote root first, so nested mappings win over their parents.
    mappings.sort(key=lambda mapping: -len(mapping.remote_root))
    return mappings


def _bounded_ms(key: str, raw: Any, default: int, low: int, high: int, problems: list[str]) -> int:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        problems.append(f"kreplay.{key} must be an integer in [{low}, {high}]")
        return default
    return raw


def _root(path: str) -> str:
    normalized = os.path.normpath(path)
    return normalized if normalized != "/" else ""


class PathMapper:
    """Translates between paths as recorded (maybe in a container) and local paths."""

    def __init__(self, mappings: list[PathMapping]) -> None:
        self._by_remote = list(mappings)
        self._by_local = sorted(mappings, key=lambda mapping: -len(mapping.local_root))

    def to_local(self, recorded: str) -> str:
        path = os.path.normpath(recorded)
        for mapping in self._by_remote:
            rest = _under(path, mapping.remote_root)
            if rest is not None:
                return os.path.normpath(mapping.local_root + rest)
        return path

    def to_recorded(self, local: str) -> list[str]:
        """Every recorded path that maps to ``local`` (the local path itself included)."""
        path = os.path.normpath(local)
        candidates = [path]
        for mapping in self._by_local:
            rest = _under(path, mapping.local_root)
            if rest is not None:
                candidates.append(os.path.normpath(mapping.remote_root + rest))
        return candidates


def _under(path: str, root: str) -> str | None:
    """The part of ``path`` after ``root`` (starting with '/'), or None when not under it."""
    if path == root:
        return ""
    if path.startswith(root + "/"):
        return path[len(root) :]
    return None
