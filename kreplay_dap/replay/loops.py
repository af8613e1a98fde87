"""Findings for the debugger: from ``kreplay_dap.analysis`` when present, else built in.

The built-in detector is deliberately simple: an object written successfully at least
``min_repeats`` times in a row where each write changed nothing but status and server
metadata. ``FindingSource`` is the seam: the real analysis library replaces it.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kreplay_dap.replay.diff import diff_values
from kreplay_dap.replay.queries import Queries
from kreplay_dap.replay.state import version_of
from recorder.storage.api import Recording
from recorder.storage.model import ObjectRef

log = logging.getLogger(__name__)

MAX_EVIDENCE = 1000
MAX_LOOP_CANDIDATES = 2000
MAX_WRITES_PER_OBJECT = 100_000
_IGNORED_TOP = frozenset({"status"})
_IGNORED_METADATA = frozenset({"resourceVersion", "managedFields", "generation"})


@dataclass(slots=True)
class Finding:
    """One analysis result, in the analysis library's shape."""

    type: str
    objects: list[str]
    first_seq: int
    last_seq: int
    count: int
    description: str
    evidence: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LoopOptions:
    enabled: bool = True
    min_repeats: int = 5
    max_candidates: int = MAX_LOOP_CANDIDATES


FindingSource = Callable[[Recording, str, LoopOptions], list[Finding]]


def load_findings(recording: Recording, session_id: str, options: LoopOptions) -> list[Finding]:
    """Findings of the analysis library if installed, else of the built-in loop detector."""
    if not options.enabled:
        return []
    analyze = _analysis_entry_point()
    if analyze is not None:
        try:
            raw = analyze(recording, session_id)
            return [_convert(item) for item in list(raw)[:100_000]]
        except Exception:  # the library is optional; fall back but say why
            log.exception("kreplay_dap.analysis failed; using the built-in loop detector")
    return detect_loops(recording, session_id, options)


def _analysis_entry_point() -> Callable[..., Any] | None:
    try:
        module = importlib.import_module("kreplay_dap.analysis")
    except ImportError:
        return None
    entry = getattr(module, "analyze", None)
    return entry if callable(entry) else None


def _convert(item: Any) -> Finding:
    def get(name: str, default: Any) -> Any:
        if isinstance(item, dict):
            return item.get(name, default)
        return getattr(item, name, default)

    return Finding(
        type=str(get("type", "")),
        objects=[str(o) for o in get("objects", [])],
        first_seq=int(get("first_seq", 0)),
        last_seq=int(get("last_seq", 0)),
        count=int(get("count", 0)),
        description=str(get("description", "")),
        evidence=[int(s) for s in list(get("evidence", []))[:MAX_EVIDENCE]],
    )


def detect_loops(recording: Recording, session_id: str, options: LoopOptions) -> list[Finding]:
    """Built-in detector: runs of status-only writes on one object."""
    queries = Queries(recording, session_id)
    candidates = queries.write_counts(options.min_repeats)[: options.max_candidates]
    findings: list[Finding] = []
    for ref, _count in candidates:
        finding = _loop_of(recording, session_id, ref, options.min_repeats)
        if finding is not None:
            findings.append(finding)
    findings.sort(key=lambda f: f.first_seq)
    return findings


def _is_status_only(old: Any, new: Any) -> bool:
    for change in diff_values(old, new):
        top = change.path[0] if change.path else None
        if top in _IGNORED_TOP:
            continue
        if top == "metadata" and len(change.path) > 1 and change.path[1] in _IGNORED_METADATA:
            continue
        return False
    return True


def _loop_of(
    recording: Recording, session_id: str, ref: ObjectRef, min_repeats: int
) -> Finding | None:
    best: list[tuple[int, int, str]] = []
    run: list[tuple[int, int, str]] = []
    previous: Any = None
    for index, op in enumerate(recording.object_operations(session_id, ref)):
        if index >= MAX_WRITES_PER_OBJECT:
            break
        version = version_of(recording, op)
        if version is None or version.body is None:
            continue
        if op.is_write and previous is not None and _is_status_only(previous, version.body):
            run.append((op.seq, op.ts_ns, op.verb))
        elif op.is_write:
            run = []
        previous = None if version.deleted else version.body
        if len(run) > len(best):
            best = list(run)
    return _finding(ref, best) if len(best) >= min_repeats else None


def _finding(ref: ObjectRef, run: list[tuple[int, int, str]]) -> Finding:
    seqs = [seq for seq, _, _ in run]
    gaps = [b - a for a, b in itertools.pairwise(seqs)]
    period = int(statistics.median(gaps)) if gaps else 0
    seconds = (run[-1][1] - run[0][1]) / 1e9
    verbs = [verb for _, _, verb in run]
    verb = max(set(verbs), key=verbs.count)
    target = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
    description = (
        f"reconcile loop: {verb} {ref.kind} {target} repeated {len(run)}\u00d7 "
        f"(period {period} ops, {seconds:.0f} s)"
    )
    return Finding(
        "loop", [str(ref)], seqs[0], seqs[-1], len(run), description, seqs[:MAX_EVIDENCE]
    )
