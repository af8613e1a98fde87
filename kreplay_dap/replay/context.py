"""The names an expression can read at one step, resolved lazily (decode only on use)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kreplay_dap.replay.diff import MISSING, Change
from kreplay_dap.replay.expr import Expression
from recorder.errors import InvalidInputError
from recorder.storage.model import ObjectRef, Operation

if TYPE_CHECKING:
    from kreplay_dap.replay.engine import ReplayEngine


def operation_fields(op: Operation) -> dict[str, Any]:
    """The flat, user-facing fields of an operation (what conditions and *Operation* show)."""
    code = op.error_code or op.status_code
    return {
        "seq": op.seq,
        "verb": op.verb,
        "event": op.event_type,
        "apiVersion": op.api_version,
        "kind": op.kind,
        "resource": op.resource,
        "subresource": op.subresource,
        "namespace": op.namespace,
        "name": op.name,
        "status": code,
        "code": code,
        "error": op.error_message or op.error_reason,
        "reason": op.error_reason,
        "duration_ms": op.duration_us / 1000,
        "timestamp_ns": op.ts_ns,
        "resourceVersion": op.resource_version,
        "generation": op.generation,
        "actor": op.actor,
        "thread": op.thread,
        "span": op.span_id,
        "callSite": str(op.call_site[0]) if op.call_site else "",
    }


def change_dicts(changes: list[Change]) -> list[dict[str, Any]]:
    return [
        {
            "path": change.path_text,
            "old": None if change.old is MISSING else change.old,
            "new": None if change.new is MISSING else change.new,
        }
        for change in changes
    ]


class ClusterNode:
    """``cluster.Kind["namespace/name"]``: looked up through the object index."""

    def __init__(self, engine: ReplayEngine, seq: int, kind: str | None = None) -> None:
        self._engine = engine
        self._seq = seq
        self._kind = kind

    def child(self, key: str | int) -> Any:
        if self._kind is None:
            return ClusterNode(self._engine, self._seq, str(key))
        namespace, _, name = str(key).rpartition("/")
        version = self._engine.history.version_at(ObjectRef(self._kind, namespace, name), self._seq)
        return None if version is None or version.deleted else version.body


class StepContext:
    """Resolves root names for the operation at ``seq``; each value is computed once."""

    def __init__(self, engine: ReplayEngine, op: Operation) -> None:
        self._engine = engine
        self.op = op
        self._cache: dict[str, Any] = {}
        self._fields = operation_fields(op)

    def resolve(self, name: str) -> Any:
        if name in self._fields:
            return self._fields[name]
        if name not in self._cache:
            self._cache[name] = self._compute(name)
        return self._cache[name]

    def _compute(self, name: str) -> Any:
        recording, op = self._engine.recording, self.op
        if name in ("op", "operation"):
            return dict(self._fields)
        if name == "object":
            version = self._engine.history.version_at(op.object_ref, op.seq)
            return None if version is None else version.body
        if name == "request":
            return recording.body_json(op.request_ref)
        if name == "response":
            return recording.body_json(op.response_ref)
        if name == "changes":
            return change_dicts(self._engine.history.changes(op)[1])
        if name == "cluster":
            return ClusterNode(self._engine, op.seq)
        raise KeyError(name)


ROOT_NAMES = (
    "object",
    "request",
    "response",
    "changes",
    "cluster",
    "op",
    *operation_fields(Operation("", 0, 0, "get")).keys(),
)
KNOWN_NAMES = frozenset((*ROOT_NAMES, "operation"))


def check_names(expression: Expression) -> Expression:
    """``expression`` when every root name it reads exists at every step (what
    ``StepContext`` resolves); else InvalidInputError naming the first unknown one."""
    unknown = sorted(expression.roots - KNOWN_NAMES)
    if unknown:
        raise InvalidInputError(
            f"expression {expression.source!r}: unknown name {unknown[0]!r} (names: object, "
            "request, response, changes, cluster, op, and the operation's fields such as verb, "
            "kind, namespace, name, code, actor)"
        )
    return expression
