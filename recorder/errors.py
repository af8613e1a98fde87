"""The one exception hierarchy of kreplay.

Every error that crosses a boundary (CLI, DAP, LSP, HTTP) is a ``KreplayError``.
Each boundary maps it in one place: the CLI prints one line and exits 2, the DAP
server answers an error response, the mock API server answers a ``Status``.
"""

from __future__ import annotations


class KreplayError(Exception):
    """Base of every error kreplay raises on purpose."""


class RecordingError(KreplayError):
    """A recording file cannot be used."""


class NotARecordingError(RecordingError):
    """The file is not SQLite, is truncated or corrupt, or lacks the expected tables."""


class NewerSchemaError(RecordingError):
    """The file was written by a newer kreplay than this one."""


class UnknownSessionError(RecordingError):
    """The session does not exist; the message lists those that do."""

    def __init__(self, session_id: str, existing: list[str]) -> None:
        shown = ", ".join(existing[:20]) if existing else "none"
        more = f" (+{len(existing) - 20} more)" if len(existing) > 20 else ""
        super().__init__(f"unknown session {session_id!r}; sessions in this file: {shown}{more}")
        self.session_id = session_id
        self.existing = existing


class ReadOnlyRecordingError(RecordingError):
    """A write was attempted on a recording opened for replay."""


class LimitExceededError(KreplayError):
    """A configured bound (operations per session, object size, frame size) was exceeded."""


class InvalidInputError(KreplayError):
    """External input (arguments, request bodies, expressions) failed validation."""
