"""In-memory cluster state: objects, the cluster-wide resourceVersion and the watch event log.

One re-entrant lock guards everything; a condition on it wakes watchers. Writers never wait
for watchers: each watcher keeps its own cursor into the bounded log and is told ``410 Gone``
if it falls so far behind that its events were dropped.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kreplay_dap.apiserver.kinds import KindInfo, KindRegistry
from kreplay_dap.apiserver.status import ApiStatusError

DEFAULT_EVENT_LOG_SIZE = 20_000
DEFAULT_MAX_OBJECTS = 200_000
# Waiting for the counter to reach a resourceVersion: wake at least this often (writes that
# emit no event do not notify), and never more often than the bound below.
FRESHNESS_TICK_SECONDS = 0.1
MAX_FRESHNESS_WAKEUPS = 100_000

ObjectKey = tuple[str, str]  # (namespace, name)
BucketKey = tuple[str, str]  # (group, plural)


def encode_object(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object as stored: never mutated once stored; ``body`` is its JSON encoding."""

    obj: dict[str, Any]
    body: bytes
    resource_version: int


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change, with its wire line pre-encoded once for every watcher."""

    index: int
    resource_version: int
    bucket: BucketKey
    namespace: str
    event_type: str
    obj: dict[str, Any]
    previous: dict[str, Any] | None
    line: bytes


class ClusterState:
    """Objects by (group, plural, namespace, name), the resourceVersion counter, the event log."""

    def __init__(
        self,
        registry: KindRegistry | None = None,
        event_log_size: int = DEFAULT_EVENT_LOG_SIZE,
        max_objects: int = DEFAULT_MAX_OBJECTS,
        initial_namespaces: tuple[str, ...] = ("default",),
    ) -> None:
        self.registry = registry or KindRegistry.with_builtins()
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.resource_version = 0
        self.closed = False
        # A watch from a resourceVersion the counter has not reached fails after a short wait
        # ("Too large resource version"), unless those versions are sure to come: a replayed
        # recording reaches the versions its operator saw, however long a debugger pauses it.
        self.waits_for_future_versions = False
        self._buckets: dict[BucketKey, dict[ObjectKey, StoredObject]] = {}
        self._object_count = 0
        self._namespace_counts: dict[str, int] = {}  # objects stored in each namespace
        self._max_objects = max_objects
        self._log: list[WatchEvent] = []
        self._log_size = max(16, event_log_size)
        self._log_start_index = 0
        self._oldest_watchable_rv = 0
        for namespace in initial_namespaces:
            self.ensure_namespace(namespace)

    # -- reads -------------------------------------------------------------------------------
    def get(self, info: KindInfo, namespace: str, name: str) -> StoredObject | None:
        with self.lock:
            return self._buckets.get((info.group, info.plural), {}).get((namespace, name))

    def items(self, info: KindInfo, namespace: str = "") -> tuple[list[StoredObject], int]:
        """Objects of a kind (in one namespace, or all), in key order, with the list RV."""
        with self.lock:
            bucket = self._buckets.get((info.group, info.plural), {})
            keys = sorted(k for k in bucket if not namespace or k[0] == namespace)
            return [bucket[k] for k in keys], self.resource_version

    def namespace_exists(self, name: str) -> bool:
        with self.lock:
            return ("", name) in self._buckets.get(("", "namespaces"), {})

    def ensure_namespace(self, name: str) -> None:
        """Create namespace ``name`` if missing (the initial "default", seeded objects)."""
        info = self.registry.by_resource("", "namespaces")
        if info is None:
            return
        with self.lock:
            if self.namespace_exists(name):
                return
            created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            metadata = {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": created,
                        "resourceVersion": str(self.next_resource_version()),
                        "labels": {"kubernetes.io/metadata.name": name}}  # fmt: skip
            namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata,
                         "spec": {"finalizers": ["kubernetes"]},
                         "status": {"phase": "Active"}}  # fmt: skip
            self.put(info, namespace, "ADDED")

    def object_count(self) -> int:
        with self.lock:
            return self._object_count

    def namespace_object_count(self, namespace: str) -> int:
        """How many objects (of every kind) a namespace still holds."""
        with self.lock:
            return self._namespace_counts.get(namespace, 0)

    def kind_object_count(self, info: KindInfo) -> int:
        with self.lock:
            return len(self._buckets.get((info.group, info.plural), {}))

    # -- writes (callers hold ``lock`` around read-check-write sequences) --------------------
    def next_resource_version(self, recorded: str = "") -> int:
        """The RV for the next write: a recorded numeric RV if still increasing, else +1."""
        with self.lock:
            candidate = int(recorded) if recorded.isdigit() and len(recorded) < 19 else 0
            self.resource_version = max(self.resource_version + 1, candidate)
            return self.resource_version

    def replayed_resource_version(self, recorded: str) -> int:
        """The RV of a replayed event: the recorded one while the log stays non-decreasing
        (a watcher that listed at that RV already saw the change), else the next one."""
        with self.lock:
            if recorded.isdigit() and len(recorded) < 19 and int(recorded) >= self.resource_version:
                self.resource_version = int(recorded)
                return self.resource_version
            return self.next_resource_version()

    def adopt_resource_version(self, recorded: int) -> None:
        """Raise the counter to a recorded RV kept as it is (seeding from a recording)."""
        with self.lock:
            self.resource_version = max(self.resource_version, recorded)

    def put(
        self, info: KindInfo, obj: dict[str, Any], event_type: str, emit: bool = True
    ) -> StoredObject:
        """Store ``obj`` (its metadata.resourceVersion already set) and log the change."""
        metadata = obj["metadata"]
        key = (metadata.get("namespace", ""), metadata["name"])
        rv = int(metadata["resourceVersion"])
        stored = StoredObject(obj, encode_object(obj), rv)
        with self.lock:
            bucket = self._buckets.setdefault((info.group, info.plural), {})
            previous = bucket.get(key)
            if previous is None and self._object_count >= self._max_objects:
                raise ApiStatusError(413, f"object limit reached ({self._max_objects} objects)")
            if previous is None:
                self._count(key[0], 1)
            bucket[key] = stored
            if emit:
                self._append_event(info, key[0], event_type, obj, previous, rv)
        return stored

    def remove(self, info: KindInfo, obj: dict[str, Any], emit: bool = True) -> None:
        """Remove an object; ``obj`` is its final state carrying the deletion's new RV."""
        metadata = obj["metadata"]
        key = (metadata.get("namespace", ""), metadata["name"])
        with self.lock:
            previous = self._buckets.get((info.group, info.plural), {}).pop(key, None)
            if previous is None:
                return
            self._count(key[0], -1)
            if emit:
                rv = int(metadata["resourceVersion"])
                self._append_event(info, key[0], "DELETED", obj, previous, rv)

    def drop_kind(self, info: KindInfo) -> list[StoredObject]:
        """Forget every object of a kind at once, without events."""
        with self.lock:
            bucket = self._buckets.pop((info.group, info.plural), {})
            for namespace, _name in bucket:
                self._count(namespace, -1)
            return list(bucket.values())

    def _count(self, namespace: str, change: int) -> None:
        self._object_count += change
        if namespace:
            left = self._namespace_counts.get(namespace, 0) + change
            if left > 0:
                self._namespace_counts[namespace] = left
            else:
                self._namespace_counts.pop(namespace, None)

    def _append_event(
        self,
        info: KindInfo,
        namespace: str,
        event_type: str,
        obj: dict[str, Any],
        previous: StoredObject | None,
        rv: int,
    ) -> None:
        line = b'{"type":"%s","object":%s}\n' % (event_type.encode(), encode_object(obj))
        index = self._log_start_index + len(self._log)
        prior = previous.obj if previous is not None else None
        event = WatchEvent(index, rv, (info.group, info.plural), namespace, event_type, obj,
                           prior, line)  # fmt: skip
        self._log.append(event)
        if len(self._log) > 2 * self._log_size:
            dropped = len(self._log) - self._log_size
            self._oldest_watchable_rv = self._log[dropped - 1].resource_version
            del self._log[:dropped]
            self._log_start_index += dropped
        self.changed.notify_all()

    # -- watch support ----------------------------------------------------------------------
    def log_position_after(self, resource_version: int) -> int | None:
        """Absolute log index of the first event newer than ``resource_version``.

        None when events after it were already dropped (the caller answers 410 Gone).
        """
        with self.lock:
            if resource_version < self._oldest_watchable_rv:
                return None
            low, high = 0, len(self._log)
            while low < high:
                middle = (low + high) // 2
                if self._log[middle].resource_version <= resource_version:
                    low = middle + 1
                else:
                    high = middle
            return self._log_start_index + low

    def end_position(self) -> int:
        with self.lock:
            return self._log_start_index + len(self._log)

    def events_from(self, position: int, limit: int) -> list[WatchEvent] | None:
        """Up to ``limit`` events from absolute ``position``; None if they were dropped."""
        with self.lock:
            offset = position - self._log_start_index
            if offset < 0:
                return None
            return self._log[offset : offset + limit]

    def bookmark_version(self, position: int) -> int:
        """The RV a watcher that consumed the log up to ``position`` has seen everything of."""
        with self.lock:
            end = self._log_start_index + len(self._log)
            if position >= end:
                return self.resource_version
            offset = position - self._log_start_index
            if offset <= 0:
                return self._oldest_watchable_rv
            return self._log[offset - 1].resource_version

    def wait_for_resource_version(self, wanted: int, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until the counter reaches ``wanted``."""
        deadline = time.monotonic() + timeout
        with self.lock:
            for _wakeup in range(MAX_FRESHNESS_WAKEUPS):
                remaining = deadline - time.monotonic()
                if self.resource_version >= wanted or self.closed or remaining <= 0:
                    break
                self.changed.wait(min(remaining, FRESHNESS_TICK_SECONDS))
            return self.resource_version >= wanted

    def wait_for_events(self, position: int, timeout: float) -> None:
        with self.lock:
            if self.closed or position < self._log_start_index + len(self._log):
                return
            self.changed.wait(timeout)

    def close(self) -> None:
        """Wake every watcher so their streams end (server shutdown)."""
        with self.lock:
            self.closed = True
            self.changed.notify_all()
