"""Causality: which write produced which watch event, which reconcile it triggered, and
which writes that reconcile made, as a graph and as chains across controllers.

Links are exact where the recording allows: a watch event is tied to the write whose
resourceVersion it carries; a reconcile span to the last event of its object its actor
received; a write to its span. Without spans, an actor's write is tied (``then``) to the
last event that actor received shortly before, which is a guess and marked as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kreplay_dap.analysis.world import Key, is_error, key_text, trim_oldest
from recorder.storage.api import Recording
from recorder.storage.model import Operation

MAX_NODES = 50_000
MAX_CHAINS = 200
MAX_CHAIN_LENGTH = 64
MAX_OUT_EDGES = 64
INFER_WITHIN_OPS = 200
_LIMIT = 200_000


@dataclass
class CausalityGraph:
    session: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[dict[str, str]] = field(default_factory=list)
    chains: list[list[str]] = field(default_factory=list)
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "nodes": list(self.nodes.values()),
            "edges": list(self.edges),
            "chains": [list(chain) for chain in self.chains],
            "truncated": self.truncated,
        }

    def describe(self, node_id: str) -> str:
        node = self.nodes.get(node_id, {})
        if node.get("type") == "reconcile":
            return f"reconcile {node.get('object')} by {node.get('actor') or '?'}"
        if node.get("type") == "event":
            return f"#{node.get('seq')} {node.get('event')} {node.get('object')}"
        return f"#{node.get('seq')} {node.get('verb')} {node.get('object')} by {node.get('actor')}"


class _Builder:
    def __init__(self, recording: Recording, session_id: str, max_nodes: int) -> None:
        self.recording = recording
        self.session_id = session_id
        self.max_nodes = max_nodes
        self.graph = CausalityGraph(session_id)
        self.out: dict[str, list[str]] = {}
        self.has_in: set[str] = set()
        self.writes_by_rv: dict[Key, dict[str, str]] = {}
        self.last_event: dict[tuple[str, Key], str] = {}
        self.actor_event: dict[str, tuple[int, str]] = {}
        self.spans: dict[int, str] = {}

    def node(self, node_id: str, payload: dict[str, Any]) -> bool:
        if node_id in self.graph.nodes:
            return True
        if len(self.graph.nodes) >= self.max_nodes:
            self.graph.truncated = True
            return False
        self.graph.nodes[node_id] = {"id": node_id, **payload}
        return True

    def edge(self, source: str, target: str, relation: str) -> None:
        successors = self.out.setdefault(source, [])
        if len(successors) >= MAX_OUT_EDGES or target in successors:
            return
        successors.append(target)
        self.has_in.add(target)
        self.graph.edges.append({"from": source, "to": target, "relation": relation})

    def observe(self, op: Operation) -> None:
        if is_error(op) or not op.kind:
            return
        key = (op.kind, op.namespace, op.name)
        if op.verb == "watch":
            self._event(op, key)
        elif op.verb in {"create", "update", "patch", "delete"}:
            self._write(op, key)

    def _event(self, op: Operation, key: Key) -> None:
        writer = self.writes_by_rv.get(key, {}).get(op.resource_version)
        if writer is None:
            return
        node_id = f"op:{op.seq}"
        payload = {"type": "event", "seq": op.seq, "event": op.event_type or "MODIFIED",
                   "object": key_text(key), "actor": op.actor}  # fmt: skip
        if self.node(node_id, payload):
            self.edge(writer, node_id, "notifies")
            self.last_event[(op.actor, key)] = node_id
            if len(self.last_event) > _LIMIT:
                trim_oldest(self.last_event, _LIMIT)
            self.actor_event[op.actor] = (op.seq, node_id)

    def _write(self, op: Operation, key: Key) -> None:
        node_id = f"op:{op.seq}"
        payload = {"type": "write", "seq": op.seq, "verb": op.verb, "object": key_text(key),
                   "actor": op.actor, "subresource": op.subresource}  # fmt: skip
        if not self.node(node_id, payload):
            return
        if op.resource_version:
            versions = self.writes_by_rv.setdefault(key, {})
            versions[op.resource_version] = node_id
            if len(versions) > 32:
                trim_oldest(versions, 32)
            if len(self.writes_by_rv) > _LIMIT:
                trim_oldest(self.writes_by_rv, _LIMIT)
        if op.span_id is not None:
            span_node = self._span(op)
            if span_node is not None:
                self.edge(span_node, node_id, "performs")
            return
        recent = self.actor_event.get(op.actor)
        if recent is not None and op.seq - recent[0] <= INFER_WITHIN_OPS:
            self.edge(recent[1], node_id, "then")

    def _span(self, op: Operation) -> str | None:
        assert op.span_id is not None
        known = self.spans.get(op.span_id)
        if known is not None:
            return known
        span = self.recording.span(self.session_id, op.span_id)
        key = span.object_ref if span is not None else op.object_ref
        node_id = f"span:{op.span_id}"
        payload = {"type": "reconcile", "span_id": op.span_id, "object": str(key),
                   "actor": span.actor if span is not None else op.actor}  # fmt: skip
        if not self.node(node_id, payload):
            return None
        self.spans[op.span_id] = node_id
        if len(self.spans) > _LIMIT:
            trim_oldest(self.spans, _LIMIT)
        trigger = self.last_event.get((op.actor, (key.kind, key.namespace, key.name)))
        if trigger is not None:
            self.edge(trigger, node_id, "triggers")
        return node_id

    def chains(self) -> list[list[str]]:
        """Maximal paths from root writes, kept when they cross actors (iterative DFS)."""
        found: list[list[str]] = []
        roots = [n for n in self.out if n not in self.has_in]
        for root in roots:
            stack: list[list[str]] = [[root]]
            for _ in range(10_000):
                if not stack or len(found) >= MAX_CHAINS:
                    break
                path = stack.pop()
                successors = self.out.get(path[-1], [])
                if not successors or len(path) >= MAX_CHAIN_LENGTH:
                    if self._crosses_actors(path):
                        found.append(path)
                    continue
                stack.extend([*path, successor] for successor in successors[:8])
        return found

    def _crosses_actors(self, path: list[str]) -> bool:
        actors = {
            self.graph.nodes[n].get("actor")
            for n in path
            if self.graph.nodes[n].get("type") != "event"
        }
        return len(actors) >= 2


def causality(
    recording: Recording, session_id: str, max_nodes: int = MAX_NODES, max_ops: int = 100_000_000
) -> CausalityGraph:
    """The causal graph of a session and its cross-controller chains."""
    recording.session(session_id)  # unknown session: a one-line error
    builder = _Builder(recording, session_id, max_nodes)
    for count, op in enumerate(recording.operations(session_id)):
        if count >= max_ops or builder.graph.truncated:
            break
        builder.observe(op)
    builder.graph.chains = builder.chains()
    return builder.graph
