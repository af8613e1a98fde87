"""What a live replay found: matched steps, divergences and recorded writes never made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kreplay_dap.live.compare import FieldDifference

MISMATCH = "mismatch"
EXTRA = "extra-write"
MISSING = "missing-write"


def object_label(kind: str, namespace: str, name: str) -> str:
    """``Kind/namespace/name``, or ``Kind/name`` for cluster-scoped objects."""
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


@dataclass(frozen=True, slots=True)
class RecordedWrite:
    """A write the recording expects from the replayed actor."""

    seq: int
    verb: str
    kind: str
    namespace: str
    name: str
    body: Any

    @property
    def object(self) -> str:
        return object_label(self.kind, self.namespace, self.name)

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "verb": self.verb, "object": self.object}


@dataclass(frozen=True, slots=True)
class Divergence:
    """One place where the live operator did not do what the recording says."""

    kind: str  # mismatch, extra-write or missing-write
    step: int | None  # the recorded seq it concerns, when there is one
    verb: str
    object: str
    differences: tuple[FieldDifference, ...] = ()

    @property
    def message(self) -> str:
        at = f"step {self.step}" if self.step is not None else "after the recording"
        if self.kind == MISMATCH:
            fields = ", ".join(d.path for d in self.differences[:5])
            more = f" (+{len(self.differences) - 5} more)" if len(self.differences) > 5 else ""
            return f"{at}: {self.verb} {self.object} differs in {fields}{more}"
        if self.kind == EXTRA:
            return f"{at}: extra {self.verb} {self.object} that the recording does not have"
        return f"{at}: the recording's {self.verb} {self.object} was never made"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "step": self.step,
            "verb": self.verb,
            "object": self.object,
            "message": self.message,
            "differences": [d.to_json() for d in self.differences],
        }


@dataclass
class LiveSummary:
    session_id: str
    actor: str
    matched: list[int] = field(default_factory=list)
    divergences: list[Divergence] = field(default_factory=list)
    unconsumed: list[RecordedWrite] = field(default_factory=list)
    operator_exit_code: int | None = None
    stopped_on_divergence: bool = False
    limits: list[str] = field(default_factory=list)  # bounds the reader hit (max_ops)

    @property
    def clean(self) -> bool:
        return not self.divergences

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "actor": self.actor,
            "matched_steps": self.matched,
            "divergences": [d.to_json() for d in self.divergences],
            "unconsumed_writes": [w.to_json() for w in self.unconsumed],
            "operator_exit_code": self.operator_exit_code,
            "stopped_on_divergence": self.stopped_on_divergence,
            "limits": self.limits,
        }
