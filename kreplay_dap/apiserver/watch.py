"""Watch streams: newline-delimited JSON events read from the state's bounded event log.

Each watcher keeps its own cursor, so a slow watcher delays nobody; if it falls behind the
log it receives a ``410 Gone`` ERROR event and the stream ends, as with kube-apiserver.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kreplay_dap.apiserver.kinds import KindInfo
from kreplay_dap.apiserver.state import ClusterState, WatchEvent
from kreplay_dap.apiserver.status import failure_status

MAX_TIMEOUT_SECONDS = 3_600
IDLE_TICK_SECONDS = 1.0
# How long a watch from a resourceVersion the server has not reached yet waits for it, as
# the watch cache does, before it fails with "Too large resource version".
FRESHNESS_WAIT_SECONDS = 3.0
TOO_LARGE_RETRY_SECONDS = 1
BATCH_EVENTS = 512
DEFAULT_BOOKMARK_SECONDS = 30.0
INITIAL_EVENTS_END = "k8s.io/initial-events-end"

Accept = Callable[[dict[str, Any]], bool]
Encode = Callable[[str, dict[str, Any]], bytes]


@dataclass(slots=True)
class WatchSpec:
    info: KindInfo
    namespace: str
    accept: Accept
    filtered: bool  # False when ``accept`` takes everything, so lines are reused as they are
    resource_version: int | None  # None: send the current objects as ADDED first
    timeout_seconds: float
    bookmarks: bool
    encode: Encode | None = None  # per-watcher re-encoding (Tables for kubectl)
    bookmark_seconds: float = DEFAULT_BOOKMARK_SECONDS
    send_initial_events: bool = False  # the watch-list protocol: initial ADDED, then a marker
    api_version: str = ""  # the version the watch addressed; objects are sent in it


def encode_event(event_type: str, obj: dict[str, Any]) -> bytes:
    return b'{"type":"%s","object":%s}\n' % (
        event_type.encode(),
        json.dumps(obj, separators=(",", ":")).encode(),
    )


def gone_event(resource_version: int, oldest: str = "") -> bytes:
    message = f"too old resource version: {resource_version}"
    if oldest:
        message += f" ({oldest})"
    return encode_event("ERROR", failure_status(410, "Expired", message))


def too_large_event(wanted: int, current: int) -> bytes:
    """The watch cache's answer to a resourceVersion it did not reach in time (504)."""
    details = {
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        "retryAfterSeconds": TOO_LARGE_RETRY_SECONDS,
    }
    message = f"Timeout: Too large resource version: {wanted}, current: {current}"
    return encode_event("ERROR", failure_status(504, "Timeout", message, details))


def _in_version(spec: WatchSpec, obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the watch's version shows it (a CRD may serve several versions)."""
    if not spec.api_version or obj.get("apiVersion") == spec.api_version:
        return obj
    return {**obj, "apiVersion": spec.api_version}


def _event_type(spec: WatchSpec, event: WatchEvent) -> str | None:
    """The type this watcher sees: objects entering/leaving its selection become ADDED/DELETED."""
    if not spec.filtered:
        return event.event_type
    now = spec.accept(event.obj)
    before = event.previous is not None and spec.accept(event.previous)
    if event.event_type == "DELETED":
        return "DELETED" if before or now else None
    if now and before:
        return "MODIFIED"
    if now:
        return "ADDED"
    return "DELETED" if before else None


def _render(spec: WatchSpec, events: list[WatchEvent]) -> bytes:
    lines: list[bytes] = []
    bucket = (spec.info.group, spec.info.plural)
    # A replayed event can carry a recorded RV not above the one this watch started from.
    floor = spec.resource_version or 0
    for event in events:
        if event.bucket != bucket or (spec.namespace and event.namespace != spec.namespace):
            continue
        if event.resource_version <= floor:
            continue
        event_type = _event_type(spec, event)
        if event_type is None:
            continue
        obj = _in_version(spec, event.obj)
        if spec.encode is not None:
            lines.append(spec.encode(event_type, obj))
        elif event_type == event.event_type and obj is event.obj:
            lines.append(event.line)
        else:
            lines.append(encode_event(event_type, obj))
    return b"".join(lines)


def _bookmark(spec: WatchSpec, resource_version: int, initial_end: bool = False) -> bytes:
    metadata: dict[str, Any] = {"resourceVersion": str(resource_version)}
    if initial_end:
        metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
    api_version = spec.api_version or spec.info.api_version()
    obj = {"kind": spec.info.kind, "apiVersion": api_version, "metadata": metadata}
    return encode_event("BOOKMARK", obj)


def _initial(state: ClusterState, spec: WatchSpec) -> tuple[bytes, int]:
    """Current objects as ADDED events and the log position that follows them."""
    with state.lock:
        stored, resource_version = state.items(spec.info, spec.namespace)
        position = state.end_position()
    encode = spec.encode or encode_event
    lines = [encode("ADDED", _in_version(spec, s.obj)) for s in stored if spec.accept(s.obj)]
    if spec.send_initial_events:
        lines.append(_bookmark(spec, resource_version, initial_end=True))
    return b"".join(lines), position


def stream(state: ClusterState, spec: WatchSpec) -> Iterator[bytes | None]:
    """Yield event chunks until timeout, server shutdown, the watcher falls behind, or its
    kind stops being served (its CRD was deleted)."""
    wanted = spec.resource_version
    if wanted is not None and not _reaches(state, wanted):
        yield too_large_event(wanted, state.resource_version)
        return
    if spec.resource_version is None or spec.send_initial_events:
        first, position = _initial(state, spec)
        if first:
            yield first
    else:
        found = state.log_position_after(spec.resource_version)
        if found is None:
            yield gone_event(spec.resource_version)
            return
        position = found
    yield from _follow(state, spec, position)


def _reaches(state: ClusterState, wanted: int) -> bool:
    """Whether the server is (or soon gets) as fresh as a watch's resourceVersion."""
    if state.waits_for_future_versions:
        return True
    return state.wait_for_resource_version(wanted, FRESHNESS_WAIT_SECONDS)


def _still_served(state: ClusterState, info: KindInfo) -> bool:
    """False once the kind was unregistered or replaced (its CRD deleted or changed)."""
    return info.builtin or state.registry.by_resource(info.group, info.plural) is info


def _follow(state: ClusterState, spec: WatchSpec, position: int) -> Iterator[bytes | None]:
    deadline = time.monotonic() + min(spec.timeout_seconds, MAX_TIMEOUT_SECONDS)
    next_bookmark = time.monotonic() + spec.bookmark_seconds
    while not state.closed:
        now = time.monotonic()
        if now >= deadline:
            break
        events = state.events_from(position, BATCH_EVENTS)
        if events is None:
            yield gone_event(state.resource_version)
            return
        if events:
            position += len(events)
            chunk = _render(spec, events)
            if chunk:
                yield chunk
            continue
        if not _still_served(state, spec.info):
            return
        if spec.bookmarks and now >= next_bookmark:
            next_bookmark = now + spec.bookmark_seconds
            yield _bookmark(spec, state.bookmark_version(position))
        state.wait_for_events(position, min(IDLE_TICK_SECONDS, deadline - now))
        if state.end_position() == position:
            yield None
    if spec.bookmarks and not state.closed:
        yield _bookmark(spec, state.bookmark_version(position))
