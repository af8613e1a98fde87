"""The JSON-lines interchange format (documented in docs/FORMAT.md).

One JSON object per line. A session header line (``"kreplay": "session"``) starts a
session; the operation lines (``"op": seq``) and span lines (``"span": id``) after it
belong to it. Fields equal to their default are left out. Bodies are JSON *strings* holding
the exact bytes recorded (``*_b64`` when they are not UTF-8), so a round trip keeps them
byte for byte. An optional ``"seed"`` object keeps the Go tool's original column values.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator
from typing import Any, BinaryIO

from recorder.errors import InvalidInputError
from recorder.storage.model import CallFrame, Operation, ReconcileSpan, SessionInfo
from recorder.storage.reader import parse_frames
from recorder.storage.seed import INT64_MAX, INT64_MIN

FORMAT_VERSION = 1
MAX_LINE_BYTES = 8 << 20
MAX_FRAMES = 64
# SQLite's integers: a value outside them cannot be stored (nor exported back).
MAX_SEED_COLUMNS = 64

_OP_TEXT = (
    "verb", "event_type", "api_version", "kind", "resource", "subresource", "namespace",
    "name", "uid", "resource_version", "patch_type", "error_reason", "error_message", "actor",
    "thread",
)  # fmt: skip
_OP_INT = ("status_code", "error_code", "duration_us")
_SESSION_TEXT = ("operator", "cluster", "server_version", "recorder_version")
_SESSION_INT = ("started_ns", "dropped_ops", "oversize_ops")
_SPAN_TEXT = ("kind", "namespace", "name", "actor", "thread", "trigger", "error", "external_id")


def session_line(info: SessionInfo, seed: dict[str, Any] | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"kreplay": "session", "version": FORMAT_VERSION}
    line["session_id"] = info.session_id
    line["started_ns"] = info.started_ns
    _put(line, "ended_ns", info.ended_ns, None)
    for name in (*_SESSION_TEXT, "dropped_ops", "oversize_ops"):
        _put(line, name, getattr(info, name), "" if name in _SESSION_TEXT else 0)
    _put(line, "truncated", info.truncated, False)
    _put(line, "labels", info.labels, {})
    _put(line, "seed", seed, None)
    return line


def op_line(
    op: Operation, request: bytes | None, response: bytes | None, seed: dict[str, Any] | None
) -> dict[str, Any]:
    line: dict[str, Any] = {"op": op.seq, "ts_ns": op.ts_ns, "verb": op.verb}
    for name in _OP_TEXT[1:]:
        _put(line, name, getattr(op, name), "")
    for name in _OP_INT:
        _put(line, name, getattr(op, name), 0)
    _put(line, "generation", op.generation, None)
    _put(line, "span_id", op.span_id, None)
    _put(line, "call_site", [str(frame) for frame in op.call_site], [])
    _put_body(line, "request_body", request)
    _put_body(line, "response_body", response)
    _put(line, "seed", seed, None)
    return line


def span_line(span: ReconcileSpan, seed: dict[str, Any] | None) -> dict[str, Any]:
    line: dict[str, Any] = {"span": span.span_id, "start_ns": span.start_ns}
    for name in _SPAN_TEXT:
        _put(line, name, getattr(span, name), "")
    for name in ("end_ns", "start_seq", "end_seq"):
        _put(line, name, getattr(span, name), None)
    _put(line, "seed", seed, None)
    return line


def dumps(line: dict[str, Any]) -> str:
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False)


def numbered_lines(handle: BinaryIO, max_lines: int) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, bytes) of a file's lines; a line is read at most
    ``MAX_LINE_BYTES`` (and a byte) at a time, so an endless line costs no more memory."""
    for number in range(1, max_lines + 2):
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if number > max_lines:
            raise InvalidInputError(f"more than {max_lines} lines")
        if len(raw) > MAX_LINE_BYTES:
            raise InvalidInputError(f"line {number}: longer than {MAX_LINE_BYTES} bytes")
        yield number, raw


def parse_line(text: str | bytes, number: int) -> dict[str, Any] | None:
    """One line as a JSON object; None for a blank line."""
    if len(text) > MAX_LINE_BYTES:
        raise InvalidInputError(f"line {number}: longer than {MAX_LINE_BYTES} bytes")
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise InvalidInputError(f"line {number}: not JSON ({error})") from error
    if not isinstance(value, dict):
        raise InvalidInputError(f"line {number}: expected a JSON object")
    return value


def parse_session(line: dict[str, Any], number: int) -> SessionInfo:
    version = line.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise InvalidInputError(f"line {number}: JSON-lines format version {version!r} unknown")
    fields = _Fields(line, number)
    info = SessionInfo(fields.text("session_id", required=True))
    for name in _SESSION_TEXT:
        setattr(info, name, fields.text(name))
    for name in _SESSION_INT:
        setattr(info, name, fields.integer(name))
    info.ended_ns = fields.optional_int("ended_ns")
    info.truncated = bool(line.get("truncated", False))
    labels = line.get("labels", {})
    if not isinstance(labels, dict):
        raise InvalidInputError(f"line {number}: 'labels' must be an object")
    info.labels = {str(key): str(value) for key, value in labels.items()}
    return info


def parse_op(line: dict[str, Any], number: int, session_id: str) -> Operation:
    fields = _Fields(line, number)
    op = Operation(session_id, fields.integer("op"), fields.integer("ts_ns"), fields.text("verb"))
    if op.seq <= 0:
        raise InvalidInputError(f"line {number}: 'op' must be a positive sequence number")
    for name in _OP_TEXT[1:]:
        setattr(op, name, fields.text(name))
    for name in _OP_INT:
        setattr(op, name, fields.integer(name))
    op.generation = fields.optional_int("generation")
    op.span_id = fields.optional_int("span_id")
    op.call_site = _frames(line.get("call_site", []), number)
    op.request_body = fields.body("request_body")
    op.response_body = fields.body("response_body")
    return op


def parse_span(line: dict[str, Any], number: int, session_id: str) -> ReconcileSpan:
    fields = _Fields(line, number)
    span = ReconcileSpan(session_id, fields.integer("span"), fields.text("kind"))
    for name in _SPAN_TEXT[1:]:
        setattr(span, name, fields.text(name))
    span.start_ns = fields.integer("start_ns")
    span.end_ns = fields.optional_int("end_ns")
    span.start_seq = fields.optional_int("start_seq")
    span.end_seq = fields.optional_int("end_seq")
    return span


def seed_columns(
    line: dict[str, Any], number: int, integers: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """The Go tool's kept column values: an object of column names to SQLite values (text,
    64-bit integers, finite numbers or null), as a seed export writes them back; the
    columns named in ``integers`` (a row id, the session's offsets) must be integers."""
    value = line.get("seed")
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > MAX_SEED_COLUMNS:
        raise InvalidInputError(
            f"line {number}: 'seed' must be an object of at most {MAX_SEED_COLUMNS} columns"
        )
    for column, kept in value.items():
        if column in integers and (not isinstance(kept, int) or isinstance(kept, bool)):
            raise InvalidInputError(f"line {number}: 'seed' column {column!r} must be an integer")
        if not _sqlite_value(kept):
            raise InvalidInputError(
                f"line {number}: 'seed' column {column!r} must be text, a 64-bit integer, a"
                " finite number or null"
            )
    return value


def _sqlite_value(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    return isinstance(value, float) and math.isfinite(value)


def _put(line: dict[str, Any], name: str, value: Any, default: Any) -> None:
    if value != default:
        line[name] = value


def _put_body(line: dict[str, Any], name: str, body: bytes | None) -> None:
    if body is None:
        return
    try:
        line[name] = body.decode("utf-8")
    except UnicodeDecodeError:
        line[name + "_b64"] = base64.b64encode(body).decode("ascii")


def _frames(value: Any, number: int) -> tuple[CallFrame, ...]:
    if not isinstance(value, list) or len(value) > MAX_FRAMES:
        raise InvalidInputError(f"line {number}: 'call_site' must be a list of at most 64 frames")
    if not all(isinstance(item, str) for item in value):
        raise InvalidInputError(f"line {number}: 'call_site' frames must be file:line:function")
    frames = parse_frames("\n".join(value))
    if len(frames) != len(value):
        raise InvalidInputError(f"line {number}: 'call_site' frames must be file:line:function")
    return frames


class _Fields:
    """Typed access to one line's fields, with one-line errors naming line and field."""

    def __init__(self, line: dict[str, Any], number: int) -> None:
        self._line = line
        self._number = number

    def _fail(self, name: str, expected: str) -> InvalidInputError:
        return InvalidInputError(f"line {self._number}: {name!r} must be {expected}")

    def text(self, name: str, required: bool = False) -> str:
        value = self._line.get(name, None if required else "")
        if not isinstance(value, str) or (required and not value):
            raise self._fail(name, "a non-empty string" if required else "a string")
        return value

    def integer(self, name: str) -> int:
        value = self._line.get(name, 0)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(name, "an integer")
        if not INT64_MIN <= value <= INT64_MAX:
            raise self._fail(name, "a 64-bit integer (-2^63 to 2^63-1)")
        return value

    def optional_int(self, name: str) -> int | None:
        return None if self._line.get(name) is None else self.integer(name)

    def body(self, name: str) -> bytes | None:
        text = self._line.get(name)
        if text is not None:
            if not isinstance(text, str):
                raise self._fail(name, "a string holding the body's JSON text")
            return text.encode("utf-8")
        encoded = self._line.get(name + "_b64")
        if encoded is None:
            return None
        if not isinstance(encoded, str):
            raise self._fail(name + "_b64", "a base64 string")
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as error:
            raise self._fail(name + "_b64", "a base64 string") from error
