"""The recording format: the contract between the recorder and every reader."""

from recorder.storage.api import Recording
from recorder.storage.model import (
    VERBS,
    WATCH_EVENT_TYPES,
    WRITE_VERBS,
    CallFrame,
    ObjectRef,
    Operation,
    ReconcileSpan,
    SessionInfo,
)
from recorder.storage.open import open_recording
from recorder.storage.schema import SCHEMA_VERSION
from recorder.storage.writer import AppendResult, RecordingWriter

__all__ = [
    "SCHEMA_VERSION",
    "VERBS",
    "WATCH_EVENT_TYPES",
    "WRITE_VERBS",
    "AppendResult",
    "CallFrame",
    "ObjectRef",
    "Operation",
    "ReconcileSpan",
    "Recording",
    "RecordingWriter",
    "SessionInfo",
    "open_recording",
]
